// swift-tools-version: 6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
]

/// What every service target uses: the transport, the shared support, and the server-side stack.
let serviceStack: [Target.Dependency] = [
    "AccessCore",
    "WebSocketTransport",
    "ServiceSupport",
    .product(name: "Hummingbird", package: "hummingbird"),
    .product(name: "AsyncHTTPClient", package: "async-http-client"),
    .product(name: "Logging", package: "swift-log"),
    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOHTTP1", package: "swift-nio"),
    .product(name: "HTTPTypes", package: "swift-http-types"),
]

let package = Package(
    name: "castbridge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "castbridge", targets: ["castbridge"]),
        .executable(name: "castbridge-bench", targets: ["castbridge-bench"]),
        .library(name: "FHIRcastCore", targets: ["FHIRcastCore"]),
        .library(name: "CastCore", targets: ["CastCore"]),
        .library(name: "BridgeCore", targets: ["BridgeCore"]),
        .library(name: "CastbridgeServer", targets: ["CastbridgeServer"]),
        .library(name: "CastClient", targets: ["CastClient"]),
        .library(name: "CastRoles", targets: ["CastRoles"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Pure protocol code: models, parsing and validation, event matching, hub state. No I/O.
        .target(
            name: "FHIRcastCore",
            dependencies: [
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "OrderedCollections", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        // Pure Cast protocol code: subscriptions, matching and routing, requests. No I/O.
        .target(
            name: "CastCore",
            dependencies: [
                "FHIRcastCore",
                .product(name: "OrderedCollections", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        // Pure bridge code: mapping files, FHIRcast ⇄ Cast translation, the outbound queue. No I/O.
        .target(
            name: "BridgeCore",
            dependencies: [
                "FHIRcastCore",
                "CastCore",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        // Pure authorization: who may do what, from a verified token's claims (topics, SMART FHIRcast scopes, roles),
        // and the checks every token's claims pass. No keys, no I/O.
        .target(
            name: "AccessCore",
            swiftSettings: swiftSettings
        ),
        // The transport: HTTP/1.1 with WebSocket upgrade, socket sessions, the first-byte guard. NIO only; it knows
        // no FHIRcast and no Cast.
        .target(
            name: "WebSocketTransport",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the services share: JSON bodies, the request context, advertised URLs, HubError answers, signed callbacks.
        .target(
            name: "ServiceSupport",
            dependencies: [
                "AccessCore",
                .product(name: "NIOPosix", package: "swift-nio"),
                "FHIRcastCore",
                "WebSocketTransport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        // Tokens: their verification (a shared secret for the development server, an OpenID Connect provider's
        // published keys) and the access policy over AccessCore's rules.
        .target(
            name: "AccessControl",
            dependencies: [
                "AccessCore",
                "ServiceSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The FHIRcast hub of record: its actor over HubState, routes, WebSocket endpoint, webhook delivery.
        .target(
            name: "FHIRcastService",
            dependencies: serviceStack + [
                "FHIRcastCore",
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The stores behind the hubs' store seams: SQLite (one node, the default) and PostgreSQL (a cluster).
        .target(
            name: "StateStores",
            dependencies: [
                "FHIRcastCore",
                "FHIRcastService",
                "CastCore",
                "CastService",
                "AccessCore",
                "ServiceSupport",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The embedded Cast hub: its actor over CastHubState, routes, socket endpoint, uploads and payload store, mock
        // OAuth tokens, WebSub.
        .target(
            name: "CastService",
            dependencies: serviceStack + [
                "CastCore",
                "FHIRcastCore",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // A Cast app's client of a Cast hub: tokens, subscribe, sockets, publish, batches, requests, payloads. Used by
        // the bridge's external upstream; a library for Cast client roles.
        .target(
            name: "CastClient",
            dependencies: [
                "FHIRcastCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Pure code of the Cast client roles: where an imagingstudy-open says the study is, job admission, status
        // replies and scene views, safe local file names. No I/O.
        .target(
            name: "CastRolesCore",
            dependencies: ["FHIRcastCore"],
            swiftSettings: swiftSettings
        ),
        // The Cast client roles beside the hub: the service-provider runner and the image display client, with the
        // programs they run and the files they fetch.
        .target(
            name: "CastRoles",
            dependencies: [
                "CastClient",
                "CastRolesCore",
                "CastCore",
                "FHIRcastCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The bridge as a service: its upstream Cast hub (embedded or external), the outlet the FHIRcast hub fills,
        // the loops that move events both ways, and its routes (requests, replies, files for FHIRcast apps).
        .target(
            name: "BridgeService",
            dependencies: serviceStack + [
                "CastClient",
                "BridgeCore",
                "CastCore",
                "FHIRcastCore",
                "FHIRcastService",
                "CastService",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The application: wires the services into one process on one port and owns the configuration.
        .target(
            name: "CastbridgeServer",
            dependencies: [
                "AccessCore",
                "AccessControl",
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                "CastClient",
                "BridgeService",
                "CastService",
                "WebSocketTransport",
                "ServiceSupport",
                "FHIRcastService",
                "StateStores",
                "FHIRcastCore",
                "CastCore",
                "BridgeCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "castbridge",
            dependencies: [
                "CastRoles",
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                "AccessCore",
                "StateStores",
                "CastClient",
                "CastbridgeServer",
                "BridgeService",
                "BridgeCore",
                "CastCore",
                "FHIRcastCore",
                "ServiceSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The benchmark (Docs/performance.md): starts the castbridge executable and drives it over loopback.
        .executableTarget(
            name: "castbridge-bench",
            dependencies: [
                "CastClient",
                "ServiceSupport",
                "TestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Every parser that reads bytes from outside, as fuzz targets (Docs/reliability.md); pure.
        .target(
            name: "FuzzTargets",
            dependencies: ["FHIRcastCore", "CastCore", "BridgeCore", "AccessCore", "CastRolesCore"],
            swiftSettings: swiftSettings
        ),
        // libFuzzer's driver of those targets (scripts/fuzz.sh); built normally, it replays files through one.
        // libFuzzer's driver entry, declared (a header: no C code).
        .target(name: "FuzzerDriver"),
        .executableTarget(
            name: "castbridge-fuzz",
            dependencies: ["FuzzTargets", "FuzzerDriver"],
            swiftSettings: swiftSettings
        ),
        // What the tests and the benchmark share: free loopback ports, castbridge in a child process, form bodies,
        // a seeded random generator and the mutations of the robustness tests.
        .target(
            name: "TestSupport",
            dependencies: [
                "FHIRcastCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AccessCoreTests",
            dependencies: ["AccessCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FuzzTargetsTests",
            dependencies: ["FuzzTargets"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CastRolesCoreTests",
            dependencies: ["CastRolesCore", "FHIRcastCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FHIRcastCoreTests",
            dependencies: ["FHIRcastCore", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StateStoresTests",
            dependencies: [
                "StateStores",
                "AccessCore",
                "FHIRcastCore",
                "FHIRcastService",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CastbridgeCommandTests",
            dependencies: [
                "CastRoles",
                "StateStores",
                "CastClient",
                "castbridge",
                "BridgeService",
                "BridgeCore",
                "CastbridgeServer",
                "CastCore",
                "FHIRcastCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BridgeCoreTests",
            dependencies: ["BridgeCore", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CastCoreTests",
            dependencies: ["CastCore", "TestSupport", .product(name: "OrderedCollections", package: "swift-collections")],
            swiftSettings: swiftSettings
        ),
        // The transport's state machine and socket sessions, on NIO's embedded channels: no server.
        .testTarget(
            name: "WebSocketTransportTests",
            dependencies: [
                "WebSocketTransport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CastbridgeServerTests",
            dependencies: [
                "AccessCore",
                "AccessControl",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                "CastClient",
                "CastRoles",
                "CastRolesCore",
                "CastbridgeServer",
                "BridgeService",
                "CastService",
                "FHIRcastService",
                "StateStores",
                "ServiceSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                "WebSocketTransport",
                "TestSupport",
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
