import CastClient
import BridgeService
import Foundation
import ArgumentParser
import BridgeCore
import CastCore
import CastbridgeServer
import FHIRcastCore
import Logging
import ServiceSupport
import NIOCore
import ServiceLifecycle
import StateStores

@main
struct CastbridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "castbridge",
        abstract: "A FHIRcast hub of record bridged to Cast.",
        version: CastbridgeVersion.current,
        subcommands: [Serve.self, ProviderCommand.self, DisplayCommand.self, Mappings.self])
}

/// `castbridge mappings check [DIR]`: validates the mapping files without serving.
struct Mappings: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Work with mapping files.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the mapping files of a directory (or one file); print every problem with its file and line.")

        @Argument(help: "A directory of mapping files, or one file.")
        var directory = "mappings"

        func run() throws {
            do {
                let loaded = try MappingDirectory.load(directory)
                print(Self.summary(loaded))
            } catch {
                var stderr = FileHandleOutput()
                print(error.description, to: &stderr)
                throw ExitCode.failure
            }
        }

        static func summary(_ loaded: MappingDirectory.Loaded) -> String {
            let m = loaded.mappings
            return "\(loaded.files.count) file(s) OK: \(m.events.count) event rule(s), \(m.requests.count) request verb(s); "
                + "subscribes on Cast for: \(m.castSubscriptionEvents.joined(separator: ","))"
        }
    }
}

struct FileHandleOutput: TextOutputStream {
    mutating func write(_ string: String) { FileHandle.standardError.write(Data(string.utf8)) }
}

/// `castbridge serve`. Every option can also be set with an environment variable (CASTBRIDGE_<NAME>);
/// a command-line flag wins over the environment.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the hub on one port until SIGINT or SIGTERM.")

    @Option(help: "A YAML file of options, keyed by their names without dashes (max-lease: 3600); a flag wins over the environment, the environment over the file. [env: CASTBRIDGE_CONFIG]")
    var config: String?
    @Option(help: "Address to bind. [env: CASTBRIDGE_HOST] (default: 127.0.0.1)")
    var host: String?
    @Option(help: "Port to bind; 0 picks a free one. [env: CASTBRIDGE_PORT] (default: 8080)")
    var port: Int?
    @Option(help: "Base URL advertised in hub.channel.endpoint, for deployments behind a proxy (https→wss). [env: CASTBRIDGE_PUBLIC_URL] (default: from the request's Host)")
    var publicURL: String?
    @Option(help: "Where state is kept across restarts: memory (nothing kept), sqlite:PATH (one node) or postgres://USER:PASS@HOST:PORT/DB (a cluster: every node with the same database). [env: CASTBRIDGE_STORE] (default: sqlite:castbridge-data/castbridge.sqlite)")
    var store: String?
    @Option(help: "Days audit records are kept in the store, besides their log lines; 0 keeps none there. [env: CASTBRIDGE_AUDIT_RETENTION_DAYS] (default: 90)")
    var auditRetentionDays: Double?
    @Option(help: "trace, debug, info, notice, warning, error or critical. [env: CASTBRIDGE_LOG_LEVEL] (default: info)")
    var logLevel: String?
    @Option(help: "text, or json: one JSON object per line. [env: CASTBRIDGE_LOG_FORMAT] (default: text)")
    var logFormat: String?
    @Flag(help: "The admin console shows resource ids unmasked. [env: CASTBRIDGE_ADMIN_SHOW_IDS=true] (default: the last two characters only)")
    var adminShowIds = false
    @Option(help: "Who may call: off (no tokens; only on a loopback address unless --allow-anonymous), mock (castbridge's development authorization server, /oauth/token) or oidc (--oidc-issuer). [env: CASTBRIDGE_AUTH] (default: off)")
    var auth: String?
    @Flag(help: "With --auth off, serve on an address other machines can reach anyway (something in front does the authorization); warned at every start. [env: CASTBRIDGE_ALLOW_ANONYMOUS=true]")
    var allowAnonymous = false
    @Option(help: "--auth oidc: the OpenID Connect issuer URL (discovery at {issuer}/.well-known/openid-configuration). [env: CASTBRIDGE_OIDC_ISSUER]")
    var oidcIssuer: String?
    @Option(help: "--auth oidc: where to read the provider's discovery document when the issuer's URL does not reach it from here (in docker-compose, http://keycloak:8080/realms/castbridge); tokens must still name --oidc-issuer. [env: CASTBRIDGE_OIDC_DISCOVERY_URL] (default: the issuer)")
    var oidcDiscoveryUrl: String?
    @Option(help: "--auth oidc: an audience every token must name. [env: CASTBRIDGE_OIDC_AUDIENCE] (default: not checked)")
    var oidcAudience: String?
    @Option(help: "The role or scope that allows the administration routes. [env: CASTBRIDGE_ADMIN_ROLE] (default: castbridge-admin)")
    var adminRole: String?
    @Option(help: "The role or scope that lets a token without a topic use any topic, and Cast's '*' (service providers, bridges). [env: CASTBRIDGE_ANY_TOPIC_ROLE] (default: castbridge-any-topic)")
    var anyTopicRole: String?
    @Option(help: "Origins whose browser pages may call castbridge, comma-separated (https://viewer.example); * lets every origin read without credentials. [env: CASTBRIDGE_CORS_ORIGINS] (default: none)")
    var corsOrigins: String?
    @Option(help: "Private or loopback ranges STU2 webhook callbacks may reach, comma-separated CIDRs (10.0.0.0/8,fd00::/8); link-local and cloud metadata addresses never. [env: CASTBRIDGE_WEBHOOK_ALLOW] (default: none; loopback while castbridge binds loopback)")
    var webhookAllow: String?
    @Option(help: "Serve TLS on the same port with this PEM certificate chain (with --tls-key); WebSocket endpoints are then wss://. [env: CASTBRIDGE_TLS_CERT]")
    var tlsCert: String?
    @Option(help: "The PEM private key of --tls-cert. [env: CASTBRIDGE_TLS_KEY]")
    var tlsKey: String?
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

    @Flag(help: "FHIRcast hub: take every well-formed event name, not only the catalog and the mapping files' names; discovery then no longer lists all it takes. [env: CASTBRIDGE_ACCEPT_ANY_EVENT=true]")
    var acceptAnyEvent = false
    @Option(help: "Embedded Cast hub: HS256 secret of the mock OAuth tokens. [env: CASTBRIDGE_CAST_JWT_SECRET] (default: a public development secret; set your own)")
    var castJWTSecret: String?

    @Option(help: "Directory of mapping files (*.yaml). [env: CASTBRIDGE_MAPPINGS] (default: ./mappings if it exists, else the built-in default)")
    var mappings: String?
    @Flag(help: "Do not bridge: run the FHIRcast and Cast hubs side by side. [env: CASTBRIDGE_NO_BRIDGE=true]")
    var noBridge = false
    @Option(help: "Bridge to this external Cast hub (http://host:2018) instead of the embedded one. [env: CASTBRIDGE_CAST_HUB]")
    var castHub: String?
    @Option(help: "The external hub's generation: d (current) or b (PW44-era). [env: CASTBRIDGE_CAST_DIALECT] (default: d)")
    var castDialect: String?
    @Option(help: "How the bridge logs in to the external hub: none, mock (the hub's mock OAuth code flow), bearer (--cast-token) or client-credentials (--cast-token-url, --cast-client-id, --cast-client-secret). [env: CASTBRIDGE_CAST_AUTH] (default: none)")
    var castAuth: String?
    @Option(help: "Bearer token for --cast-auth bearer. [env: CASTBRIDGE_CAST_TOKEN]")
    var castToken: String?
    @Option(help: "user_name asserted in the mock OAuth flow. [env: CASTBRIDGE_CAST_USER] (default: the hub picks one)")
    var castUser: String?
    @Option(help: "Token endpoint for client-credentials, e.g. a Keycloak realm's .../protocol/openid-connect/token. [env: CASTBRIDGE_CAST_TOKEN_URL] (default: <cast hub>/oauth/token)")
    var castTokenURL: String?
    @Option(help: "client_id for client-credentials. [env: CASTBRIDGE_CAST_CLIENT_ID] (default: castbridge)")
    var castClientID: String?
    @Option(help: "client_secret for client-credentials. [env: CASTBRIDGE_CAST_CLIENT_SECRET]")
    var castClientSecret: String?
    @Option(help: "The bridge's subscriber.name on the Cast side. [env: CASTBRIDGE_BRIDGE_NAME] (default: castbridge)")
    var bridgeName: String?
    @Option(help: "The bridge's subscriber.product.name on the Cast side. [env: CASTBRIDGE_BRIDGE_PRODUCT] (default: castbridge)")
    var bridgeProduct: String?
    @Option(help: "Events that may wait for the Cast hub; beyond, publishers get a SyncError. [env: CASTBRIDGE_BRIDGE_QUEUE_LIMIT] (default: 1000)")
    var bridgeQueueLimit: Int?
    @Option(help: "Seconds an event may wait for the Cast hub before its publisher gets a SyncError. [env: CASTBRIDGE_BRIDGE_QUEUE_MAX_WAIT] (default: 30)")
    var bridgeQueueMaxWait: Double?
    @Option(help: "Bytes of files (inline attachments, Binary resources) the events waiting for the Cast hub may hold; an event whose files do not fit is refused with 503 and Retry-After. [env: CASTBRIDGE_BRIDGE_QUEUE_MAX_BYTES] (default: 67108864)")
    var bridgeQueueMaxBytes: Int?
    @Option(help: "Longest delay between reconnect attempts to the Cast hub, seconds. [env: CASTBRIDGE_BRIDGE_RECONNECT_MAX] (default: 30)")
    var bridgeReconnectMax: Double?

    func run() async throws {
        let config = try makeConfiguration(environment: ProcessEnvironment.current)
        LoggingSystem.bootstrap { label in config.logFormat.handler(label: label, level: config.logLevel) }
        DescriptorLimit.raiseToHard()
        do {
            try await Castbridge(config: config).makeServiceGroup().run()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw ListenError(
                description: "castbridge cannot listen on \(config.host):\(config.port): the address is already in use (another "
                    + "castbridge, or another program). Stop that one, or choose another port with --port.")
        } catch let error as IOError where error.errnoCode == EADDRNOTAVAIL {
            throw ListenError(
                description: "castbridge cannot listen on \(config.host):\(config.port): no interface of this machine has that address. "
                    + "Use --host 127.0.0.1 (this machine only) or 0.0.0.0 (every interface).")
        }
    }

    /// The configuration from the flags, then the environment, then the `--config` file, then the defaults.
    func makeConfiguration(environment: [String: String]) throws -> ServerConfiguration {
        var env = environment
        if let path = config ?? environment["CASTBRIDGE_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 }) {
            let options = ConfigFile.optionNames(of: self).subtracting(["config"])
            env = try ConfigFile.environment(from: path, options: options).merging(environment) { _, set in set }
        }
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
        do {
            c.store = try StoreLocation(parsing: try value(store, "STORE", { $0 }) ?? "sqlite:\(StoreLocation.defaultSQLitePath)")
        } catch {
            throw ValidationError("--store: \(error)")
        }
        if let v = try value(auditRetentionDays, "AUDIT_RETENTION_DAYS", { Double($0) }) {
            guard v >= 0, v.isFinite else { throw ValidationError("--audit-retention-days must be 0 or more") }
            c.auditRetentionDays = v
        }
        if let v = try value(logLevel, "LOG_LEVEL", { $0 }) {
            guard let level = Logger.Level(rawValue: v.lowercased()) else {
                throw ValidationError("unknown log level '\(v)': use trace, debug, info, notice, warning, error or critical")
            }
            c.logLevel = level
        }
        if let v = try value(logFormat, "LOG_FORMAT", { $0 }) {
            guard let format = LogFormat(rawValue: v.lowercased()) else { throw ValidationError("unknown log format '\(v)': use text or json") }
            c.logFormat = format
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
        c.acceptAnyEvent = acceptAnyEvent || envFlag("ACCEPT_ANY_EVENT")
        c.adminShowsIDs = adminShowIds || envFlag("ADMIN_SHOW_IDS")
        if let v = try value(castJWTSecret, "CAST_JWT_SECRET", { $0 }) {
            guard v.utf8.count >= 32 else { throw ValidationError("the Cast JWT secret must be at least 32 bytes") }
            c.castJWTSecret = v
        }
        try bridgeOptions(&c, value: value, envFlag: envFlag)
        try securityOptions(&c, value: value, envFlag: envFlag)
        guard (0...65535).contains(c.port) else { throw ValidationError("port \(c.port) is out of range") }
        if let url = c.publicURL, !(url.hasPrefix("http://") || url.hasPrefix("https://") || url.hasPrefix("ws://") || url.hasPrefix("wss://")) {
            throw ValidationError("--public-url must start with http://, https://, ws:// or wss://")
        }
        return c
    }
}

extension Serve {
    fileprivate func bridgeOptions(
        _ c: inout ServerConfiguration, value: (String?, String, (String) -> String?) throws -> String?,
        envFlag: (String) -> Bool
    ) throws {
        c.bridgeEnabled = !(noBridge || envFlag("NO_BRIDGE"))
        if let dir = try value(mappings, "MAPPINGS", { $0 }) {
            c.mappings = try Self.loadMappings(dir)
        } else if FileManager.default.fileExists(atPath: "mappings") {
            c.mappings = try Self.loadMappings("mappings")
        }
        if let url = try value(castHub, "CAST_HUB", { $0 }) {
            if let problem = OutboundURL.problem(url) {
                throw ValidationError("--cast-hub \(problem) (\(url)); give the hub's http:// or https:// URL, e.g. http://127.0.0.1:2018")
            }
            c.castHubURL = url
        }
        if let v = try value(castDialect, "CAST_DIALECT", { $0 }) {
            guard let d = CastDialect(rawValue: v.lowercased()) else { throw ValidationError("unknown Cast dialect '\(v)': use d or b") }
            c.castDialect = d
        }
        let token = try value(castToken, "CAST_TOKEN", { $0 })
        let mode = try value(castAuth, "CAST_AUTH", { $0 })?.lowercased() ?? "none"
        switch mode {
        case "none": c.castAuth = .none
        case "bearer":
            guard let token else { throw ValidationError("--cast-auth bearer needs --cast-token") }
            c.castAuth = .bearer(token)
        case "mock": c.castAuth = .mockOAuth(user: try value(castUser, "CAST_USER", { $0 }))
        case "client-credentials":
            guard let base = try c.castHubURL ?? value(castTokenURL, "CAST_TOKEN_URL", { $0 }) else {
                throw ValidationError("--cast-auth client-credentials needs --cast-hub or --cast-token-url")
            }
            let tokenURL = try value(castTokenURL, "CAST_TOKEN_URL", { $0 }) ?? RemoteHubURL.root(of: base) + "/oauth/token"
            if let problem = OutboundURL.problem(tokenURL) { throw ValidationError("--cast-token-url \(problem) (\(tokenURL))") }
            c.castAuth = .clientCredentials(
                tokenURL: tokenURL, clientID: try value(castClientID, "CAST_CLIENT_ID", { $0 }) ?? "castbridge",
                clientSecret: try value(castClientSecret, "CAST_CLIENT_SECRET", { $0 }) ?? "")
        default:
            throw ValidationError("unknown --cast-auth '\(mode)': use none, mock, bearer or client-credentials")
        }
        if c.castHubURL == nil, mode != "none" {
            throw ValidationError("--cast-auth is for an external hub: set --cast-hub too")
        }
        if let v = try value(bridgeName, "BRIDGE_NAME", { $0 }) {
            guard !v.isEmpty, v != "*" else { throw ValidationError("the bridge name must be a non-empty name, not '*'") }
            c.bridgeName = v
        }
        if let v = try value(bridgeProduct, "BRIDGE_PRODUCT", { $0 }) { c.bridgeProduct = v }
        if let v = try value(bridgeQueueLimit.map(String.init), "BRIDGE_QUEUE_LIMIT", { $0 }) {
            guard let n = Int(v), n >= 1 else { throw ValidationError("the bridge queue limit must be a positive integer") }
            c.bridgeQueueLimit = n
        }
        if let v = try value(bridgeQueueMaxWait.map { String($0) }, "BRIDGE_QUEUE_MAX_WAIT", { $0 }) {
            guard let s = Double(v), s > 0 else { throw ValidationError("the bridge queue wait must be a positive number of seconds") }
            c.bridgeQueueMaxWaitSeconds = s
        }
        if let v = try value(bridgeQueueMaxBytes.map(String.init), "BRIDGE_QUEUE_MAX_BYTES", { $0 }) {
            guard let n = Int(v), n >= 0 else { throw ValidationError("the bridge queue's byte budget must be a number of bytes, 0 or more") }
            c.bridgeQueueMaxBytes = n
        }
        if let v = try value(bridgeReconnectMax.map { String($0) }, "BRIDGE_RECONNECT_MAX", { $0 }) {
            guard let s = Double(v), s > 0 else { throw ValidationError("the reconnect delay cap must be a positive number of seconds") }
            c.bridgeReconnectMaxSeconds = s
        }
    }

    static func loadMappings(_ dir: String) throws -> MappingSet {
        do {
            return try MappingDirectory.load(dir).mappings
        } catch {
            throw MappingLoadError(description: "the mapping files have problems:\n\(error.description)")
        }
    }
}

/// The port cannot be had: said in one line, with what to do (exit 1, no usage text).
struct ListenError: Error, CustomStringConvertible {
    var description: String
}

/// Bad mapping files stop `serve` with every problem listed (exit 1, no usage text: the flags were fine).
struct MappingLoadError: Error, CustomStringConvertible {
    var description: String
}

enum ProcessEnvironment {
    static var current: [String: String] { ProcessInfo.processInfo.environment }
}
