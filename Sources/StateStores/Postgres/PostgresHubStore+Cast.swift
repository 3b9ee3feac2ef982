import CastCore
import CastService
import FHIRcastCore
import Foundation
import Logging
import PostgresNIO

/// The embedded Cast hub across the nodes of a cluster. Every message is a row of `cast_messages` and a `NOTIFY` on
/// `castbridge_cast`, written in one statement (with the state it changes, in one transaction): PostgreSQL hands the
/// notices to every listening node in the one order of their commits, so every node delivers a topic's events in the
/// same order. A message over PostgreSQL's 8,000 bytes goes by its number and is read from the table.
///
/// Subscriptions and conferences are kept in `cast_subscriptions` and `cast_conferences`: a node that starts reads
/// them once it listens. A WebSocket subscription's row names the node that holds its socket; when that node stops
/// saying it is up, another removes its subscriptions for everyone.
extension PostgresHubStore: CastHubStore {
    static let castChannel = "castbridge_cast"

    /// A message as written: the node that wrote it, and a Cast message, or a SyncError the FHIRcast hub made (which
    /// travels the same way: in order, by number when large, read again after a reconnect).
    struct CastWire: Codable {
        var o: String
        var m: CastClusterMessage?
        var s: EventNotification?
        /// A FHIRcast WebSocket subscription unsubscribed through another node than the one holding its socket.
        var u: String?

        init(o: String, m: CastClusterMessage? = nil, s: EventNotification? = nil, u: String? = nil) {
            self.o = o
            self.m = m
            self.s = s
            self.u = u
        }
    }

    /// The writer of the messages a node writes for a node that stopped: every node, that one included, applies them.
    static let clusterOrigin = "cluster"

    package nonisolated var keepsCastState: Bool { true }
    package nonisolated func castNotes() -> AsyncStream<CastClusterNote> { castHeard }

    package func loadCast() async throws -> CastRecords {
        try await ready()
        // Read once the channel is listened to: what is written after the read comes as notices.
        try await untilListening({ $0.castListening }, "the cluster's Cast messages")
        return try await bounded("read the Cast hub's state") { [logger] connection in
            let decoder = JSONDecoder()
            var records = CastRecords()
            let subs = try await connection.query("SELECT subscription, bound FROM cast_subscriptions ORDER BY created", logger: logger)
            for try await (json, bound) in subs.decode((String, Bool).self) {
                var sub = try decoder.decode(CastSubscription.self, from: Data(json.utf8))
                sub.bound = bound
                records.subscriptions.append(sub)
            }
            let conferences = try await connection.query("SELECT host_topic, title, topics FROM cast_conferences ORDER BY created", logger: logger)
            for try await (host, title, topics) in conferences.decode((String, String, [String]).self) {
                records.conferences.append(CastConference(hostTopic: host, title: title, topics: topics))
            }
            return records
        }
    }

    package func record(_ message: CastClusterMessage) async throws {
        try await ready()
        let queries = try castQueries(message, node: node)
        let send = try Self.castMessageQuery(message, origin: node)
        try await bounded("tell the cluster's Cast hub") { [logger] connection in
            guard !queries.isEmpty else {
                try await connection.query(send, logger: logger)
                return
            }
            try await connection.withTransaction(logger: logger) { connection in
                for query in queries { try await connection.query(query, logger: logger) }
                try await connection.query(send, logger: logger)
            }
        }
    }

    package func castSubscription(_ endpoint: String) async -> CastSubscription? {
        do {
            try await ready()
            return try await bounded("look a Cast subscription up") { [logger] connection in
                let rows = try await connection.query("SELECT subscription, bound FROM cast_subscriptions WHERE endpoint = \(endpoint)", logger: logger)
                for try await (json, bound) in rows.decode((String, Bool).self) {
                    var sub = try JSONDecoder().decode(CastSubscription.self, from: Data(json.utf8))
                    sub.bound = bound
                    return sub
                }
                return nil
            }
        } catch {
            logger.warning("could not ask the cluster for a Cast subscription", metadata: ["error": "\(error)"])
            return nil
        }
    }

    // MARK: Writing

    /// The state a message changes.
    private func castQueries(_ message: CastClusterMessage, node: String) throws -> [PostgresQuery] {
        switch message {
        case .subscribed(let sub):
            let json = String(decoding: try JSONEncoder().encode(sub), as: UTF8.self)
            let channel = sub.isWebSocket ? "websocket" : "websub"
            return [
                """
                INSERT INTO cast_subscriptions (endpoint, channel, node, bound, subscription) VALUES (\(sub.endpoint), \(channel), \(node), \(sub.bound), \(json))
                ON CONFLICT (endpoint) DO UPDATE SET subscription = EXCLUDED.subscription, node = EXCLUDED.node
                """
            ]
        case .bound(let endpoint):
            return ["UPDATE cast_subscriptions SET node = \(node), bound = true WHERE endpoint = \(endpoint)"]
        case .removed(let endpoints):
            return ["DELETE FROM cast_subscriptions WHERE endpoint = ANY(\(endpoints))"]
        case .cleared:
            return ["DELETE FROM cast_subscriptions"]
        case .reset:
            return ["DELETE FROM cast_subscriptions", "DELETE FROM cast_conferences"]
        case .conferenceCreated(let conference, _, _):
            return [
                """
                INSERT INTO cast_conferences (host_topic, title, topics) VALUES (\(conference.hostTopic), \(conference.title), \(conference.topics))
                ON CONFLICT (host_topic) DO UPDATE SET title = EXCLUDED.title, topics = EXCLUDED.topics
                """
            ]
        case .conferenceEnded(let body, _, _):
            let host = (body["hostTopic"] ?? body["user"])?.stringValue?.trimmingCharacters(in: .whitespaces) ?? ""
            let leave = body["leaveTopic"]?.stringValue?.trimmingCharacters(in: .whitespaces) ?? ""
            if leave.isEmpty { return ["DELETE FROM cast_conferences WHERE host_topic = \(host)"] }
            return ["UPDATE cast_conferences SET topics = array_remove(topics, \(leave)) WHERE host_topic = \(host)"]
        case .published, .removalNotice, .frame, .response:
            return []
        }
    }

    /// One statement: the message's row, and its notice (the message inline when it fits, else its number alone).
    static func castMessageQuery(_ message: CastClusterMessage, origin: String) throws -> PostgresQuery {
        try clusterMessageQuery(CastWire(o: origin, m: message))
    }

    static func clusterMessageQuery(_ wire: CastWire) throws -> PostgresQuery {
        let body = String(decoding: try JSONEncoder().encode(wire), as: UTF8.self)
        // The notice is "<number> <message>": 20 digits and a space at most before the message.
        let inline = body.utf8.count <= ClusterNotice.maxPayloadBytes - 21
        return """
            WITH m AS (INSERT INTO cast_messages (body) VALUES (\(body)) RETURNING id)
            SELECT pg_notify('castbridge_cast', CASE WHEN \(inline) THEN m.id::text || ' ' || \(body) ELSE m.id::text END) FROM m
            """
    }

    // MARK: Listening

    func listenCast() async {
        await listen(on: Self.castChannel, listening: { await $0.listeningCast() }, heard: { await $0.heardCast($1) })
    }

    /// Listening (again): what was written while this node was not listening is read again, in order.
    private func listeningCast() async {
        defer { castListening = true }
        guard let since = castLastHeard else {
            castLastHeard = Date()
            return
        }
        let from = since.addingTimeInterval(-5)
        do {
            let missed = try await bounded("read Cast messages written while not listening") { [logger] connection in
                var found: [(Int64, String)] = []
                let rows = try await connection.query("SELECT id, body FROM cast_messages WHERE created_at >= \(from) ORDER BY id", logger: logger)
                for try await row in rows.decode((Int64, String).self) { found.append(row) }
                return found
            }
            for (id, body) in missed { take(id, body) }
        } catch {
            logger.warning("could not read the Cast messages written while this node was not listening", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    private func heardCast(_ payload: String) async {
        castLastHeard = Date()
        let (head, rest) = payload.firstIndex(of: " ").map { (payload[..<$0], payload[payload.index(after: $0)...]) } ?? (payload[...], ""[...])
        guard let id = Int64(head) else {
            logger.warning("a Cast notice castbridge cannot read was skipped", metadata: ["bytes": "\(payload.utf8.count)"])
            return
        }
        if !rest.isEmpty { return take(id, String(rest)) }
        guard !castSeen.contains(id) else { return }
        do {
            let body = try await bounded("read a Cast message") { [logger] connection in
                for try await body in try await connection.query("SELECT body FROM cast_messages WHERE id = \(id)", logger: logger).decode(String.self) {
                    return body
                }
                throw StoreError("Cast message \(id) is no longer kept")
            }
            take(id, body)
        } catch {
            logger.warning("could not read a Cast message", metadata: ["id": "\(id)", "error": "\(String(reflecting: error))"])
        }
    }

    private func take(_ id: Int64, _ body: String) {
        guard castSeen.insert(id) else { return }
        guard let wire = try? JSONDecoder().decode(CastWire.self, from: Data(body.utf8)) else {
            logger.warning("a Cast message castbridge cannot read was skipped", metadata: ["id": "\(id)"])
            return
        }
        if let message = wire.m { castHeardSink.yield(CastClusterNote(message: message, fromThisNode: wire.o == node)) }
        if let syncError = wire.s, wire.o != node { syncErrorsHeardSink.yield(syncError) }
        if let id = wire.u, wire.o != node { unsubscribesHeardSink.yield(SubscriptionID(id)) }
    }

    // MARK: Nodes that stopped

    /// The WebSocket subscriptions of nodes that stopped saying they are up end for everyone: their sockets are gone.
    func sweepCastSubscriptions(_ silence: PresumedGone) async throws {
        let gone = silence.seconds
        try await bounded("remove the Cast subscriptions of stopped nodes") { [logger, node] connection in
            try await connection.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    DELETE FROM cast_subscriptions
                    WHERE channel = 'websocket' AND node <> \(node)
                      AND node NOT IN (SELECT node FROM castbridge_nodes WHERE seen_at > now() - make_interval(secs => \(gone)))
                    RETURNING endpoint
                    """, logger: logger)
                var endpoints: [String] = []
                for try await endpoint in rows.decode(String.self) { endpoints.append(endpoint) }
                guard !endpoints.isEmpty else { return }
                logger.info("removing the Cast subscriptions of a node that stopped", metadata: ["subscriptions": "\(endpoints.count)"])
                try await connection.query(
                    try Self.castMessageQuery(.removed(endpoints: endpoints), origin: Self.clusterOrigin), logger: logger)
            }
        }
    }
}
