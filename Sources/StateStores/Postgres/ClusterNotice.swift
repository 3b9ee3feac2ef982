import FHIRcastCore
import Foundation

/// What a node tells the others when it wrote a topic's events (a PostgreSQL `NOTIFY`): who wrote them, the topic,
/// and each event's number, with the event itself when all of them fit in PostgreSQL's 8,000-byte payload. Otherwise
/// the events are read back from the events table by number.
struct ClusterNotice: Codable, Sendable, Equatable {
    struct Entry: Codable, Sendable, Equatable {
        var s: Int64
        var e: EventNotification?
    }

    /// The node that wrote them (its own notices are skipped: it delivered them itself).
    var o: String
    var t: String
    var n: [Entry]

    /// PostgreSQL's limit is 8,000 bytes; a little is kept for the channel's bookkeeping.
    static let maxPayloadBytes = 7_800

    /// The notice for `events` of one topic: inline when they fit, by number otherwise.
    static func payload(origin: String, topic: String, events: [SharedEvent]) throws -> String {
        let encoder = JSONEncoder()
        let inline = ClusterNotice(o: origin, t: topic, n: events.map { Entry(s: $0.sequence, e: $0.event) })
        let data = try encoder.encode(inline)
        if data.count <= maxPayloadBytes { return String(decoding: data, as: UTF8.self) }
        let byReference = ClusterNotice(o: origin, t: topic, n: events.map { Entry(s: $0.sequence, e: nil) })
        let small = try encoder.encode(byReference)
        guard small.count <= maxPayloadBytes else {
            throw StoreError("the notice of \(events.count) events of one topic does not fit in a PostgreSQL notification")
        }
        return String(decoding: small, as: UTF8.self)
    }

    static func read(_ payload: String) -> ClusterNotice? {
        try? JSONDecoder().decode(ClusterNotice.self, from: Data(payload.utf8))
    }
}
