import ArgumentParser
import CastClient
import FHIRcastCore
import Logging
import ServiceLifecycle
import UnixSignals

/// How a Cast client role reaches its hub: the options `castbridge provider` and `castbridge display` share.
struct CastHubOptions: ParsableArguments {
    @Option(help: "The Cast hub: castbridge's own (http://host:8080) or any other (http://host:2018).")
    var hub: String = "http://127.0.0.1:8080"
    @Option(help: "How to log in: none, mock (the hub's mock OAuth code flow), bearer (--token) or client-credentials (--token-url, --client-id, --client-secret).")
    var auth: String = "none"
    @Option(help: "Bearer token for --auth bearer.")
    var token: String?
    @Option(help: "user_name asserted in the mock OAuth flow.")
    var user: String?
    @Option(help: "Token endpoint for client-credentials. (default: <hub>/oauth/token)")
    var tokenURL: String?
    @Option(help: "client_id for client-credentials.")
    var clientID: String?
    @Option(help: "client_secret for client-credentials.")
    var clientSecret: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func credentials() throws -> CastUpstreamAuth {
        if let problem = OutboundURL.problem(hub) { throw ValidationError("--hub \(problem) (\(hub)); give the hub's http:// or https:// URL") }
        switch auth.lowercased() {
        case "none": return .none
        case "bearer":
            guard let token else { throw ValidationError("--auth bearer needs --token") }
            return .bearer(token)
        case "mock": return .mockOAuth(user: user)
        case "client-credentials":
            guard let clientID else { throw ValidationError("--auth client-credentials needs --client-id") }
            return .clientCredentials(tokenURL: tokenURL ?? RemoteHubURL.root(of: hub) + "/oauth/token", clientID: clientID, clientSecret: clientSecret ?? "")
        default: throw ValidationError("unknown --auth '\(auth)': use none, mock, bearer or client-credentials")
        }
    }

    func logger(_ label: String) throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel.lowercased()) else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

/// A role's loop as a service, ended by SIGINT or SIGTERM.
struct RoleService: Service {
    let body: @Sendable () async -> Void

    func run() async throws {
        try await cancelWhenGracefulShutdown { await body() }
    }

    static func run(logger: Logger, _ body: @escaping @Sendable () async -> Void) async throws {
        let group = ServiceGroup(services: [RoleService(body: body)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// A command line given as one string: split at blanks, with "…" or '…' keeping blanks inside.
enum CommandLineWords {
    static func split(_ text: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var quote: Character?
        var inWord = false
        for c in text {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c
                inWord = true
            } else if c == " " || c == "\t" {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(c)
                inWord = true
            }
        }
        guard quote == nil else { throw ValidationError("unbalanced quote in \(text)") }
        if inWord { words.append(current) }
        return words
    }
}
