import Foundation
import Logging
import PostgresNIO
import StateStores

/// The PostgreSQL server the cluster tests use: `CASTBRIDGE_TEST_POSTGRES` (a superuser's URL), as
/// `scripts/test-postgres.sh start` prints it. Without it the tests skip, except in CI (`CI=true`), where they run and
/// fail: CI must never pass without them.
enum TestPostgres {
    static var url: String? { ProcessInfo.processInfo.environment["CASTBRIDGE_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 } }
    static var required: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }
    /// Whether the tests run: a server is given, or CI demands one.
    static var enabled: Bool { url != nil || required }

    /// A database of its own for `body` (created, then dropped), so that tests do not see each other's topics.
    static func withDatabase(_ body: (PostgresAddress) async throws -> Void) async throws {
        guard let url else {
            throw TestFailure("CI=true but CASTBRIDGE_TEST_POSTGRES is not set: .ci/run starts PostgreSQL with scripts/test-postgres.sh")
        }
        guard case .postgres(let admin) = try StoreLocation(parsing: url) else { throw TestFailure("CASTBRIDGE_TEST_POSTGRES is not a postgres:// URL") }
        let name = "cbtest_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        try await run(admin, "CREATE DATABASE \(name)")
        var address = admin
        address.database = String(name)
        do {
            try await body(address)
        } catch {
            _ = try? await run(admin, "DROP DATABASE \(name) WITH (FORCE)")
            throw error
        }
        _ = try? await run(admin, "DROP DATABASE \(name) WITH (FORCE)")
    }

    /// Runs one statement (text made here, never from input) on `address`'s database; returns how many rows it gave.
    @discardableResult
    static func run(_ address: PostgresAddress, _ sql: String) async throws -> Int {
        try await run(address, PostgresQuery(unsafeSQL: sql))
    }

    @discardableResult
    static func run(_ address: PostgresAddress, _ query: PostgresQuery) async throws -> Int {
        let client = PostgresClient(
            configuration: .init(host: address.host, port: address.port, username: address.user, password: address.password, database: address.database, tls: .disable),
            backgroundLogger: Logger(label: "test-postgres"))
        return try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                await client.run()
                return -1
            }
            var rows = 0
            for try await _ in try await client.query(query) { rows += 1 }
            group.cancelAll()
            return rows
        }
    }
}
