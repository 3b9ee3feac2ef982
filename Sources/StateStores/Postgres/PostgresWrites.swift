import FHIRcastCore
import Foundation
import PostgresNIO

/// The statements that write one batch of the hub's changes to PostgreSQL: each topic's context over its basis, with
/// its events and the notice to the other nodes in the same statement, then the webhook subscriptions.
struct PostgresWrites: Sendable {
    struct TopicWrite: Sendable {
        let topic: String
        let write: PostgresQuery
        let reread: PostgresQuery

        /// Runs the write; nil when written, else what the store holds for the topic (another node wrote it first).
        func write(_ run: (PostgresQuery) async throws -> PostgresRowSequence) async throws -> TopicContext?? {
            var written = false
            for try await _ in try await run(write) { written = true }
            guard !written else { return nil }
            for try await json in try await run(reread).decode(String.self) {
                return .some(try JSONDecoder().decode(TopicContext.self, from: Data(json.utf8)))
            }
            return .some(nil)
        }
    }

    var topics: [TopicWrite] = []
    var subscriptionQueries: [PostgresQuery] = []

    /// One topic and nothing else: one statement, no transaction around it (the common publish).
    var fitsOneStatement: Bool { topics.count == 1 && subscriptionQueries.isEmpty }

    init(_ changes: HubChanges, node: String) throws {
        let encoder = JSONEncoder()
        var eventsByTopic: [String: [SharedEvent]] = [:]
        for event in changes.events { eventsByTopic[event.event.event.topic, default: []].append(event) }
        for (topic, context) in changes.savedTopics {
            let json = String(decoding: try encoder.encode(context), as: UTF8.self)
            let basis = changes.topicBasis[topic] ?? context.sequence - 1
            let events = eventsByTopic[topic] ?? []
            let numbers = events.map(\.sequence)
            let bodies = try events.map { String(decoding: try encoder.encode($0.event), as: UTF8.self) }
            let notice = events.isEmpty ? "" : try ClusterNotice.payload(origin: node, topic: topic, numbers: numbers, bodies: bodies)
            let sequence = context.sequence
            let channel = PostgresHubStore.channel
            // The topic row is written only over `basis` (a new topic: only if no node made it first); the events and
            // the notice only when it was.
            let write: PostgresQuery =
                basis == 0
                ? """
                WITH t AS (
                    INSERT INTO fhircast_topics (topic, seq, context) VALUES (\(topic), \(sequence), \(json))
                    ON CONFLICT (topic) DO UPDATE SET seq = excluded.seq, context = excluded.context, updated_at = now()
                    WHERE fhircast_topics.seq = 0 RETURNING topic),
                e AS (
                    INSERT INTO fhircast_events (topic, seq, origin, event)
                    SELECT t.topic, x.seq, \(node), x.event FROM t, unnest(\(numbers)::bigint[], \(bodies)::text[]) AS x(seq, event)
                    RETURNING seq)
                SELECT t.topic, CASE WHEN \(notice) = '' THEN NULL ELSE pg_notify(\(channel), \(notice)) END FROM t
                """
                : """
                WITH t AS (
                    UPDATE fhircast_topics SET seq = \(sequence), context = \(json), updated_at = now()
                    WHERE topic = \(topic) AND seq = \(basis) RETURNING topic),
                e AS (
                    INSERT INTO fhircast_events (topic, seq, origin, event)
                    SELECT t.topic, x.seq, \(node), x.event FROM t, unnest(\(numbers)::bigint[], \(bodies)::text[]) AS x(seq, event)
                    RETURNING seq)
                SELECT t.topic, CASE WHEN \(notice) = '' THEN NULL ELSE pg_notify(\(channel), \(notice)) END FROM t
                """
            topics.append(TopicWrite(topic: topic, write: write, reread: "SELECT context FROM fhircast_topics WHERE topic = \(topic)"))
        }
        // A subscription another node took over (its socket connected there) is that node's to end.
        for id in changes.endedSubscriptions {
            subscriptionQueries.append("DELETE FROM fhircast_subscriptions WHERE id = \(id.raw) AND node = \(node)")
        }
        for (id, sub) in changes.savedSubscriptions {
            let json = String(decoding: try encoder.encode(sub), as: UTF8.self)
            let channel = sub.isWebSocket ? "websocket" : "webhook"
            subscriptionQueries.append(
                """
                INSERT INTO fhircast_subscriptions (id, topic, channel, node, expires_at, subscription)
                VALUES (\(id.raw), \(sub.topic), \(channel), \(node), \(sub.expiresAt), \(json))
                ON CONFLICT (id) DO UPDATE
                SET subscription = excluded.subscription, node = excluded.node, expires_at = excluded.expires_at
                """)
        }
    }
}
