import Foundation
import ArgumentParser
import CastCore
import CastbridgeServer
import FHIRcastCore
import Logging
import ServiceLifecycle

@main
struct CastbridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "castbridge",
        abstract: "A FHIRcast hub of record bridged to Cast.",
        subcommands: [Serve.self])
}

/// `castbridge serve`. Every option can also be set with an environment variable (CASTBRIDGE_<NAME>);
/// a command-line flag wins over the environment.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the hub on one port until SIGINT or SIGTERM.")

    @Option(help: "Address to bind. [env: CASTBRIDGE_HOST] (default: 127.0.0.1)")
    var host: String?
    @Option(help: "Port to bind; 0 picks a free one. [env: CASTBRIDGE_PORT] (default: 8080)")
    var port: Int?
    @Option(help: "Base URL advertised in hub.channel.endpoint, for deployments behind a proxy (https→wss). [env: CASTBRIDGE_PUBLIC_URL] (default: from the request's Host)")
    var publicURL: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical. [env: CASTBRIDGE_LOG_LEVEL] (default: info)")
    var logLevel: String?
    @Option(help: "Longest lease granted, seconds. [env: CASTBRIDGE_MAX_LEASE] (default: 7200)")
    var maxLease: Int?
    @Option(help: "Seconds a subscriber has to ACK an event; 0 disables ACK timeouts. [env: CASTBRIDGE_ACK_TIMEOUT] (default: 10)")
    var ackTimeout: Double?
    @Option(help: "WebSocket ping period, seconds; 0 disables. [env: CASTBRIDGE_PING_INTERVAL] (default: 30)")
    var pingInterval: Double?
    @Option(help: "Largest request body and websocket message, bytes. [env: CASTBRIDGE_MAX_BODY] (default: 1048576)")
    var maxBody: Int?
    @Option(help: "Messages queued per subscriber before a slow one is dropped. [env: CASTBRIDGE_SEND_BUFFER] (default: 1024)")
    var sendBuffer: Int?

    @Option(help: "How the embedded Cast hub matches event names: exact, or the reference hub's substring. [env: CASTBRIDGE_CAST_EVENT_MATCHING] (default: exact)")
    var castEventMatching: String?

    @Flag(help: "Embedded Cast hub: require a bearer token on POST /api/hub and /api/hub/request. [env: CASTBRIDGE_CAST_REQUIRE_AUTH=true]")
    var castRequireAuth = false
    @Flag(help: "Embedded Cast hub: single-user mode (every login is SINGLE-USER). [env: CASTBRIDGE_CAST_SINGLE_USER=true]")
    var castSingleUser = false
    @Option(help: "Embedded Cast hub: HS256 secret of the mock OAuth tokens. [env: CASTBRIDGE_CAST_JWT_SECRET] (default: a public development secret; set your own)")
    var castJWTSecret: String?

    func run() async throws {
        let config = try makeConfiguration(environment: ProcessEnvironment.current)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = config.logLevel
            return handler
        }
        try await Castbridge(config: config).makeServiceGroup().run()
    }

    func makeConfiguration(environment env: [String: String]) throws -> ServerConfiguration {
        var c = ServerConfiguration()
        func value<T>(_ flag: T?, _ name: String, _ parse: (String) -> T?) throws -> T? {
            if let flag { return flag }
            guard let text = env["CASTBRIDGE_\(name)"], !text.isEmpty else { return nil }
            guard let v = parse(text) else { throw ValidationError("CASTBRIDGE_\(name)='\(text)' is not valid") }
            return v
        }
        if let v = try value(host, "HOST", { $0 }) { c.host = v }
        if let v = try value(port, "PORT", { Int($0) }) { c.port = v }
        c.publicURL = try value(publicURL, "PUBLIC_URL", { $0 })
        if let v = try value(logLevel, "LOG_LEVEL", { $0 }) {
            guard let level = Logger.Level(rawValue: v.lowercased()) else {
                throw ValidationError("unknown log level '\(v)': use trace, debug, info, notice, warning, error or critical")
            }
            c.logLevel = level
        }
        if let v = try value(maxLease, "MAX_LEASE", { Int($0) }) {
            guard v > 0 else { throw ValidationError("the maximum lease must be positive") }
            c.hub.maxLeaseSeconds = v
            c.hub.defaultLeaseSeconds = min(c.hub.defaultLeaseSeconds, v)
        }
        if let v = try value(ackTimeout, "ACK_TIMEOUT", { Double($0) }) {
            guard v >= 0 else { throw ValidationError("the ACK timeout cannot be negative") }
            c.hub.ackTimeoutSeconds = v
        }
        if let v = try value(pingInterval, "PING_INTERVAL", { Double($0) }) {
            guard v >= 0 else { throw ValidationError("the ping interval cannot be negative") }
            c.pingIntervalSeconds = v
        }
        if let v = try value(maxBody, "MAX_BODY", { Int($0) }) {
            guard v >= 1024 else { throw ValidationError("the body limit must be at least 1024 bytes") }
            c.maxBodyBytes = v
        }
        if let v = try value(sendBuffer, "SEND_BUFFER", { Int($0) }) {
            guard v >= 2 else { throw ValidationError("the send buffer must hold at least 2 messages") }
            c.sendBufferMessages = v
        }
        if let v = try value(castEventMatching, "CAST_EVENT_MATCHING", { $0 }) {
            guard let mode = CastEventMatching(rawValue: v.lowercased()) else {
                throw ValidationError("unknown Cast event matching '\(v)': use exact or substring")
            }
            c.castEventMatching = mode
        }
        func envFlag(_ name: String) -> Bool { ["1", "true", "yes", "on"].contains(env["CASTBRIDGE_\(name)"]?.lowercased() ?? "") }
        c.castRequireAuth = castRequireAuth || envFlag("CAST_REQUIRE_AUTH")
        c.castSingleUser = castSingleUser || envFlag("CAST_SINGLE_USER")
        if let v = try value(castJWTSecret, "CAST_JWT_SECRET", { $0 }) {
            guard v.utf8.count >= 32 else { throw ValidationError("the Cast JWT secret must be at least 32 bytes") }
            c.castJWTSecret = v
        }
        guard (0...65535).contains(c.port) else { throw ValidationError("port \(c.port) is out of range") }
        if let url = c.publicURL, !(url.hasPrefix("http://") || url.hasPrefix("https://") || url.hasPrefix("ws://") || url.hasPrefix("wss://")) {
            throw ValidationError("--public-url must start with http://, https://, ws:// or wss://")
        }
        return c
    }
}

enum ProcessEnvironment {
    static var current: [String: String] { ProcessInfo.processInfo.environment }
}
