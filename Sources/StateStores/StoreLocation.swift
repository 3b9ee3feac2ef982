import Foundation

/// Where castbridge keeps its state (`--store`): nowhere, an SQLite file, or a PostgreSQL database shared by the
/// nodes of a cluster.
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    /// Nothing is kept: every restart begins empty.
    case memory
    /// One node: an SQLite file, created with its folder when missing.
    case sqlite(path: String)
    /// A cluster: every node with the same database is one castbridge.
    case postgres(PostgresAddress)

    /// `castbridge serve`'s default: next to where the server runs.
    public static let defaultSQLitePath = "castbridge-data/castbridge.sqlite"

    /// Reads `memory`, `sqlite:PATH` or `postgres://USER:PASS@HOST:PORT/DB[?sslmode=disable|require|verify-full]`.
    public init(parsing text: String) throws(StoreLocationError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "memory" {
            self = .memory
        } else if trimmed.hasPrefix("sqlite:") {
            let path = String(trimmed.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw StoreLocationError("sqlite: needs a file path, e.g. sqlite:\(Self.defaultSQLitePath)") }
            self = .sqlite(path: path)
        } else if trimmed.hasPrefix("postgres://") || trimmed.hasPrefix("postgresql://") {
            self = .postgres(try PostgresAddress(parsing: trimmed))
        } else {
            throw StoreLocationError(
                "'\(text)' is not a store: use memory, sqlite:PATH or postgres://USER:PASS@HOST:PORT/DB")
        }
    }

    /// For logs: the password is never shown.
    public var description: String {
        switch self {
        case .memory: "memory"
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let address): address.description
        }
    }
}

/// A PostgreSQL database's address, from a `postgres://` URL.
public struct PostgresAddress: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable, Equatable {
        /// Plain TCP (a database on the same host or a private network).
        case disable
        /// TLS, without checking the server's certificate.
        case require
        /// TLS, with the server's certificate checked against the system's roots and the host name.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String, tls: TLSMode = .disable) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
    }

    public init(parsing text: String) throws(StoreLocationError) {
        guard let url = URLComponents(string: text), let host = url.host, !host.isEmpty else {
            throw StoreLocationError("'\(Self.masked(text))' is not a PostgreSQL URL: postgres://USER:PASS@HOST:PORT/DB")
        }
        guard let user = url.user, !user.isEmpty else {
            throw StoreLocationError("'\(Self.masked(text))' names no user: postgres://USER:PASS@HOST:PORT/DB")
        }
        let database = String(url.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw StoreLocationError("'\(Self.masked(text))' names no database: postgres://USER:PASS@HOST:PORT/DB")
        }
        var tls = TLSMode.disable
        for item in url.queryItems ?? [] {
            guard item.name == "sslmode" else {
                throw StoreLocationError("'\(item.name)' is not a PostgreSQL URL option castbridge knows (sslmode=disable|require|verify-full)")
            }
            guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                throw StoreLocationError("sslmode must be disable, require or verify-full, not '\(item.value ?? "")'")
            }
            tls = mode
        }
        self.init(
            host: host, port: url.port ?? 5432, user: url.percentEncodedUser.flatMap { $0.removingPercentEncoding } ?? user,
            password: url.percentEncodedPassword.flatMap { $0.removingPercentEncoding }, database: database, tls: tls)
    }

    public var description: String {
        "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)\(tls == .disable ? "" : "?sslmode=\(tls.rawValue)")"
    }

    /// The URL with its password hidden, for error messages.
    static func masked(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@"), let scheme = text.range(of: "://"),
            let colon = text[scheme.upperBound..<at].firstIndex(of: ":")
        else { return text }
        return text[..<colon] + ":***" + text[at...]
    }
}

/// A `--store` value castbridge cannot use, with what to write instead.
public struct StoreLocationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
