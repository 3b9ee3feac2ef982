import CastClient
import BridgeService
import ArgumentParser
import BridgeCore
import Foundation
import CastCore
import CastbridgeServer
import FHIRcastCore
import Logging
import StateStores
import Testing

@testable import castbridge

/// `castbridge serve` options: every flag also settable by a CASTBRIDGE_* variable, the flag winning.
@Suite("castbridge serve configuration")
struct ServeConfigurationTests {
    func configuration(_ arguments: [String], _ environment: [String: String] = [:]) throws -> ServerConfiguration {
        try Serve.parse(arguments).makeConfiguration(environment: environment)
    }

    @Test("Defaults: 127.0.0.1:8080, info, a 7200 s lease, 10 s ACKs, exact Cast matching")
    func defaults() throws {
        let c = try configuration([])
        #expect(c.host == "127.0.0.1" && c.port == 8080 && c.publicURL == nil && c.logLevel == .info)
        #expect(c.hub.maxLeaseSeconds == 7200 && c.hub.ackTimeoutSeconds == 10 && c.castEventMatching == .exact)
        #expect(!c.castRequireAuth && !c.castSingleUser)
    }

    @Test("--store: SQLite next to the server by default; memory, another file or PostgreSQL when told (CASTBRIDGE_STORE too); anything else refused. --audit-retention-days: 90, or what is given, never negative")
    func store() throws {
        #expect(try configuration([]).store == .sqlite(path: "castbridge-data/castbridge.sqlite"))
        #expect(try configuration(["--store", "memory"]).store == .memory)
        #expect(try configuration([], ["CASTBRIDGE_STORE": "sqlite:/var/lib/castbridge/s.sqlite"]).store == .sqlite(path: "/var/lib/castbridge/s.sqlite"))
        #expect(try configuration(["--store", "memory"], ["CASTBRIDGE_STORE": "sqlite:x"]).store == .memory)
        let pg = try configuration(["--store", "postgres://cb:pw@db:5432/cb"]).store
        #expect(pg == .postgres(PostgresAddress(host: "db", user: "cb", password: "pw", database: "cb")))
        for bad in ["redis://x", "sqlite:", "postgres://db/cb"] {
            #expect(throws: ValidationError.self, "\(bad)") { try configuration(["--store", bad]) }
        }
        #expect(try configuration([]).auditRetentionDays == 90)
        #expect(try configuration(["--audit-retention-days", "0"]).auditRetentionDays == 0)
        #expect(try configuration([], ["CASTBRIDGE_AUDIT_RETENTION_DAYS": "7"]).auditRetentionDays == 7)
        #expect(throws: ValidationError.self) { try configuration(["--audit-retention-days=-1"]) }
    }

    @Test("Environment variables set every option; a flag given on the command line wins")
    func environmentAndFlags() throws {
        let env = [
            "CASTBRIDGE_HOST": "0.0.0.0", "CASTBRIDGE_PORT": "9000", "CASTBRIDGE_PUBLIC_URL": "https://hub.example.org",
            "CASTBRIDGE_LOG_LEVEL": "DEBUG", "CASTBRIDGE_MAX_LEASE": "600", "CASTBRIDGE_ACK_TIMEOUT": "0",
            "CASTBRIDGE_PING_INTERVAL": "5", "CASTBRIDGE_MAX_BODY": "4096", "CASTBRIDGE_SEND_BUFFER": "16",
            "CASTBRIDGE_CAST_EVENT_MATCHING": "substring", "CASTBRIDGE_CAST_REQUIRE_AUTH": "true",
            "CASTBRIDGE_CAST_SINGLE_USER": "1", "CASTBRIDGE_CAST_JWT_SECRET": String(repeating: "k", count: 32),
            "CASTBRIDGE_ALLOW_ANONYMOUS": "true", "CASTBRIDGE_ADMIN_ROLE": "ops", "CASTBRIDGE_ANY_TOPIC_ROLE": "provider",
        ]
        let c = try configuration([], env)
        #expect(c.host == "0.0.0.0" && c.port == 9000 && c.publicURL == "https://hub.example.org" && c.logLevel == .debug)
        #expect(c.hub.maxLeaseSeconds == 600 && c.hub.defaultLeaseSeconds == 600 && c.hub.ackTimeoutSeconds == 0)
        #expect(c.pingIntervalSeconds == 5 && c.maxBodyBytes == 4096 && c.sendBufferMessages == 16)
        #expect(c.castEventMatching == .substring && c.castRequireAuth && c.castSingleUser)
        #expect(c.castJWTSecret == String(repeating: "k", count: 32))
        #expect(c.allowAnonymous && c.auth == .off && c.adminRole == "ops" && c.anyTopicRole == "provider")
        #expect(try configuration(["--port", "7000", "--host", "::1"], env).port == 7000)
        #expect(try configuration(["--port", "7000", "--host", "::1"], env).host == "::1")
    }

    @Test("Security: off is refused on an address other machines can reach unless --allow-anonymous; mock and oidc may bind anywhere")
    func anonymousExposure() throws {
        for host in ["0.0.0.0", "10.1.2.3", "::", "hub.example.org"] {
            #expect(throws: ValidationError.self, "\(host)") { try configuration(["--host", host]) }
            let refusal = (try? configuration(["--host", host])) == nil
            #expect(refusal)
            #expect(try configuration(["--host", host, "--allow-anonymous"]).allowAnonymous)
            #expect(try configuration(["--host", host, "--auth", "mock"]).auth == .mock)
            let oidc = try configuration(["--host", host, "--auth", "oidc", "--oidc-issuer", "https://idp.example/realms/r", "--oidc-audience", "castbridge"])
            #expect(oidc.auth == .oidc && oidc.oidcIssuer == "https://idp.example/realms/r" && oidc.oidcAudience == "castbridge")
        }
        for host in ["127.0.0.1", "127.0.0.2", "localhost", "::1"] {
            #expect(try configuration(["--host", host]).auth == .off)
        }
        do {
            _ = try configuration(["--host", "0.0.0.0"])
        } catch {
            #expect("\(error)".contains("--auth mock") && "\(error)".contains("--allow-anonymous") && "\(error)".contains("0.0.0.0"))
        }
        #expect(try configuration([], ["CASTBRIDGE_AUTH": "MOCK", "CASTBRIDGE_HOST": "0.0.0.0"]).auth == .mock)
    }

    @Test("Bad values are refused with a ValidationError")
    func badValues() throws {
        for (arguments, env) in [
            ([String](), ["CASTBRIDGE_PORT": "abc"]), (["--port", "70000"], [:]), (["--log-level", "loud"], [:]),
            (["--public-url", "hub.example.org"], [:]), (["--max-lease", "0"], [:]), (["--ack-timeout=-1"], [:]),
            (["--max-body", "10"], [:]), (["--send-buffer", "1"], [:]), (["--cast-event-matching", "fuzzy"], [:]),
            (["--cast-jwt-secret", "short"], [:]), (["--auth", "maybe"], [:]), (["--auth", "oidc"], [:]),
            (["--auth", "oidc", "--oidc-issuer", "ftp://idp"], [:]), (["--oidc-issuer", "https://idp.example"], [:]),
            (["--admin-role", ""], [:]), (["--cors-origins", "viewer.example"], [:]),
            (["--webhook-allow", "10.0.0.0/33"], [:]), (["--webhook-allow", "intranet"], [:]), (["--tls-cert", "/nonexistent.pem"], [:]),
            (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], [:]),
        ] {
            #expect(throws: ValidationError.self, "\(arguments) \(env)") { try configuration(arguments, env) }
        }
    }
}

/// The bridge's options and `castbridge mappings check`.
@Suite("castbridge bridge options")
struct BridgeOptionsTests {
    func configuration(_ arguments: [String], _ environment: [String: String] = [:]) throws -> ServerConfiguration {
        try Serve.parse(arguments).makeConfiguration(environment: environment)
    }

    static var shippedMappings: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("mappings").path
    }

    @Test("Defaults: bridged, to the embedded hub, dialect d, no auth, name castbridge, 1000 events for 30 s, 64 MiB of files")
    func defaults() throws {
        let c = try configuration([])
        #expect(c.bridgeEnabled && c.castHubURL == nil && c.castDialect == .d && c.castAuth == .none)
        #expect(c.bridgeName == "castbridge" && c.bridgeProduct == "castbridge")
        #expect(c.bridgeQueueLimit == 1000 && c.bridgeQueueMaxWaitSeconds == 30 && c.bridgeQueueMaxBytes == 64 << 20)
    }

    @Test("Flags and CASTBRIDGE_* variables set the bridge; every auth mode")
    func options() throws {
        let c = try configuration([], [
            "CASTBRIDGE_CAST_HUB": "http://cast:2018", "CASTBRIDGE_CAST_DIALECT": "B", "CASTBRIDGE_CAST_AUTH": "client-credentials",
            "CASTBRIDGE_CAST_CLIENT_ID": "id", "CASTBRIDGE_CAST_CLIENT_SECRET": "secret", "CASTBRIDGE_BRIDGE_NAME": "bridge-1",
            "CASTBRIDGE_BRIDGE_QUEUE_LIMIT": "5", "CASTBRIDGE_BRIDGE_QUEUE_MAX_WAIT": "2.5", "CASTBRIDGE_BRIDGE_QUEUE_MAX_BYTES": "4096", "CASTBRIDGE_MAPPINGS": Self.shippedMappings,
        ])
        #expect(c.castHubURL == "http://cast:2018" && c.castDialect == .b && c.bridgeName == "bridge-1")
        #expect(c.castAuth == .clientCredentials(tokenURL: "http://cast:2018/oauth/token", clientID: "id", clientSecret: "secret"))
        #expect(c.bridgeQueueLimit == 5 && c.bridgeQueueMaxWaitSeconds == 2.5 && c.bridgeQueueMaxBytes == 4096)
        #expect(try configuration(["--bridge-queue-max-bytes", "0"]).bridgeQueueMaxBytes == 0)
        #expect(try configuration(["--cast-hub", "http://h", "--cast-auth", "bearer", "--cast-token", "t"]).castAuth == .bearer("t"))
        #expect(try configuration(["--cast-hub", "http://h", "--cast-auth", "mock", "--cast-user", "u"]).castAuth == .mockOAuth(user: "u"))
        #expect(try configuration(["--no-bridge"]).bridgeEnabled == false)
        #expect(try configuration([], ["CASTBRIDGE_NO_BRIDGE": "true"]).bridgeEnabled == false)
    }

    @Test("Bad bridge options are refused, each with its reason; bad mapping files stop serve")
    func badOptions() throws {
        for arguments in [
            ["--cast-hub", "ftp://h"], ["--cast-dialect", "c"], ["--cast-auth", "kerberos"], ["--cast-hub", "http://h", "--cast-auth", "bearer"],
            ["--cast-auth", "mock"], ["--bridge-queue-limit", "0"], ["--bridge-queue-max-wait", "0"], ["--bridge-name", "*"],
            ["--bridge-queue-max-bytes=-1"], ["--cast-hub", "http://h:99999"], ["--cast-hub", "http://:2018"],
            ["--cast-hub", "http://h", "--cast-auth", "client-credentials", "--cast-token-url", "http://t:70000/token"],
        ] {
            #expect(throws: ValidationError.self, "\(arguments)") { try configuration(arguments) }
        }
        #expect(throws: MappingLoadError.self) { try configuration(["--mappings", "/nonexistent/castbridge"]) }
    }

    @Test("mappings check summarises a good directory")
    func check() throws {
        let loaded = try MappingDirectory.load(Self.shippedMappings)
        let summary = Mappings.Check.summary(loaded)
        #expect(summary.hasPrefix("1 file(s) OK: 25 event rule(s), 3 request verb(s)"))
        #expect(throws: ExitCode.self) { try Mappings.Check.parse(["/nonexistent/castbridge"]).run() }
    }
}
