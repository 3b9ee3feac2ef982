import Logging
import PostgresNIO

/// The PostgreSQL store's tables, versioned in `castbridge_schema`. The first node to start brings the database up
/// to date, under an advisory lock (nodes starting together wait for it), and a database written by a newer castbridge
/// is refused.
enum PostgresSchema {
    /// Each migration, in order; `migrations[n]` brings version n to n + 1.
    static let migrations: [[PostgresQuery]] = [
        [
            // Topics: the context's JSON (TopicContext) and the number of its last event, which every write checks.
            """
            CREATE TABLE fhircast_topics (
                topic text PRIMARY KEY, seq bigint NOT NULL, context text NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now())
            """,
            // Subscriptions: the JSON of each (Subscription: channel, webhook callback and secret, events, lease), its
            // channel, the node that holds it (a WebSocket's socket; the one that wrote it last), and its lease's end.
            """
            CREATE TABLE fhircast_subscriptions (
                id text PRIMARY KEY, topic text NOT NULL, channel text NOT NULL, node text NOT NULL,
                expires_at timestamptz NOT NULL, subscription text NOT NULL)
            """,
            "CREATE INDEX fhircast_subscriptions_topic ON fhircast_subscriptions (topic, expires_at)",
            // Accepted events, for the nodes that missed a notification or whose notification carried no event.
            """
            CREATE TABLE fhircast_events (
                topic text NOT NULL, seq bigint NOT NULL, origin text NOT NULL, event text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (topic, seq))
            """,
            "CREATE INDEX fhircast_events_created ON fhircast_events (created_at)",
            // The nodes that are up: each says so every few seconds; a webhook whose node stopped saying so is taken
            // over by another.
            "CREATE TABLE castbridge_nodes (node text PRIMARY KEY, seen_at timestamptz NOT NULL)",
        ],
        [
            // Audit records (issue #13's), kept for the retention setting.
            "CREATE TABLE audit_records (id bigserial PRIMARY KEY, at timestamptz NOT NULL, record text NOT NULL)",
            "CREATE INDEX audit_records_at ON audit_records (at)",
        ],
        [
            // The embedded Cast hub (issue #19): its subscriptions (the JSON of each; the node that holds a WebSocket's
            // socket, or took the subscription; whether a socket is bound), its conferences, and the messages nodes
            // tell each other, kept for the nodes that missed a notice or whose notice carried only a number.
            """
            CREATE TABLE cast_subscriptions (
                endpoint text PRIMARY KEY, channel text NOT NULL, node text NOT NULL, bound boolean NOT NULL,
                subscription text NOT NULL, created timestamptz NOT NULL DEFAULT clock_timestamp())
            """,
            """
            CREATE TABLE cast_conferences (
                host_topic text PRIMARY KEY, title text NOT NULL, topics text[] NOT NULL,
                created timestamptz NOT NULL DEFAULT clock_timestamp())
            """,
            """
            CREATE TABLE cast_messages (
                id bigserial PRIMARY KEY, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())
            """,
            "CREATE INDEX cast_messages_created ON cast_messages (created_at)",
        ],
        [
            // Binary batches served by any node: the embedded Cast hub's uploaded chunks, and the bridge's links to
            // Cast files, each until it expires.
            """
            CREATE TABLE cast_payloads (
                id text PRIMARY KEY, mime_type text NOT NULL, file_name text NOT NULL, expires_at timestamptz NOT NULL,
                bytes bytea NOT NULL)
            """,
            "CREATE INDEX cast_payloads_expires ON cast_payloads (expires_at)",
            "CREATE TABLE bridge_payload_links (id text PRIMARY KEY, file text NOT NULL, expires_at timestamptz NOT NULL)",
            "CREATE INDEX bridge_payload_links_expires ON bridge_payload_links (expires_at)",
        ],
        [
            // When each node last said it was up, or stopped: a node taking over its webhooks replays what they
            // missed since then. (A stopped node's seen_at is -infinity: presumed gone at once.)
            "ALTER TABLE castbridge_nodes ADD COLUMN last_word timestamptz",
        ],
    ]

    static var version: Int { migrations.count }

    /// An arbitrary constant: the advisory lock every castbridge takes while it migrates.
    static let migrationLock: Int64 = 0x6361_7374_6272_6467

    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_lock(\(migrationLock))", logger: logger)
        do {
            try await migrateLocked(connection, logger: logger)
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
            throw error
        }
        try await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
    }

    private static func migrateLocked(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("CREATE TABLE IF NOT EXISTS castbridge_schema (version integer NOT NULL)", logger: logger)
        var found = 0
        for try await version in try await connection.query("SELECT version FROM castbridge_schema", logger: logger).decode(Int.self) {
            found = max(found, version)
        }
        guard found <= version else {
            throw StoreError(
                "the PostgreSQL store's schema is version \(found), written by a newer castbridge than this one (version \(version)); run that castbridge, or restore a backup")
        }
        for step in found..<version {
            try await connection.query("BEGIN", logger: logger)
            do {
                for statement in migrations[step] { try await connection.query(statement, logger: logger) }
                try await connection.query("DELETE FROM castbridge_schema", logger: logger)
                try await connection.query("INSERT INTO castbridge_schema (version) VALUES (\(step + 1))", logger: logger)
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw StoreError("the PostgreSQL store's migration to schema version \(step + 1) failed: \(String(reflecting: error))")
            }
            logger.info("PostgreSQL store schema migrated", metadata: ["version": "\(step + 1)"])
        }
    }
}
