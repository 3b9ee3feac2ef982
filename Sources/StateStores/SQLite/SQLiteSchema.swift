import Logging
import SQLiteNIO

/// The SQLite store's tables, versioned in `PRAGMA user_version`: castbridge brings an older file up to date at start,
/// one migration at a time, and refuses a file written by a newer castbridge.
enum SQLiteSchema {
    /// Each migration, in order; `migrations[n]` brings version n to n + 1.
    static let migrations: [[String]] = [
        [
            // Topics with a context: its JSON (TopicContext: current context, versionId, content bundle).
            "CREATE TABLE fhircast_topics (topic TEXT PRIMARY KEY NOT NULL, context TEXT NOT NULL) WITHOUT ROWID",
            // STU2 webhook subscriptions: the JSON of each (Subscription: callback, secret, events, lease).
            "CREATE TABLE fhircast_webhooks (id TEXT PRIMARY KEY NOT NULL, topic TEXT NOT NULL, subscription TEXT NOT NULL) WITHOUT ROWID",
        ],
        [
            // Audit records (issue #13's), kept for the retention setting: when (Unix seconds), and the record's JSON.
            "CREATE TABLE audit_records (at REAL NOT NULL, record TEXT NOT NULL)",
            "CREATE INDEX audit_records_at ON audit_records (at)",
        ],
        [
            // The embedded Cast hub's WebSub subscriptions (issue #19): the JSON of each (CastSubscription: callback,
            // secret, events, subscriber). Its WebSocket subscriptions end with their sockets, so none is kept.
            "CREATE TABLE cast_websub (endpoint TEXT PRIMARY KEY NOT NULL, subscription TEXT NOT NULL)",
        ],
    ]

    static var version: Int { migrations.count }

    static func migrate(_ db: SQLiteConnection, logger: Logger) async throws {
        let found = try await db.query("PRAGMA user_version").first?.column("user_version")?.integer ?? 0
        guard found <= version else {
            throw StoreError(
                "the SQLite store's schema is version \(found), written by a newer castbridge than this one (version \(version)); run that castbridge, or restore a backup")
        }
        for step in found..<version {
            _ = try await db.query("BEGIN IMMEDIATE")
            do {
                for sql in migrations[step] { _ = try await db.query(sql) }
                _ = try await db.query("PRAGMA user_version = \(step + 1)")
                _ = try await db.query("COMMIT")
            } catch {
                _ = try? await db.query("ROLLBACK")
                throw StoreError("the SQLite store's migration to schema version \(step + 1) failed: \(error)")
            }
            logger.info("SQLite store schema migrated", metadata: ["version": "\(step + 1)"])
        }
    }
}
