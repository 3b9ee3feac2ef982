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

    /// The notice for one topic's events, numbered `numbers`, whose JSON (`bodies`, as written to the events table) is
    /// used as it is, not encoded again: inline when they fit, by number otherwise.
    static func payload(origin: String, topic: String, numbers: [Int64], bodies: [String]) throws -> String {
        let head = "{\"o\":\(try quoted(origin)),\"t\":\(try quoted(topic)),\"n\":["
        let inline = head + zip(numbers, bodies).map { "{\"s\":\($0),\"e\":\($1)}" }.joined(separator: ",") + "]}"
        if inline.utf8.count <= maxPayloadBytes { return inline }
        let byReference = head + numbers.map { "{\"s\":\($0)}" }.joined(separator: ",") + "]}"
        guard byReference.utf8.count <= maxPayloadBytes else {
            throw StoreError("the notice of \(numbers.count) events of one topic does not fit in a PostgreSQL notification")
        }
        return byReference
    }

    private static func quoted(_ text: String) throws -> String {
        String(decoding: try JSONEncoder().encode(text), as: UTF8.self)
    }

    static func read(_ payload: String) -> ClusterNotice? {
        try? JSONDecoder().decode(ClusterNotice.self, from: Data(payload.utf8))
    }
}
