import CastCore
import FHIRcastCore
import Foundation

/// Cast requests the bridge forwarded to FHIRcast subscribers, by correlation id, until one reply goes back or their
/// time is up. Bounded: past `capacity` waiting requests, new ones are not forwarded.
public struct ForwardedRequests: Sendable {
    public struct Entry: Sendable {
        public var request: IncomingCastRequest
        public var rule: RequestMapping
        public var deadline: Date
        public var answered = false
    }

    public let capacity: Int
    private var entries: [String: Entry] = [:]

    public init(capacity: Int = 10_000) { self.capacity = capacity }

    public var count: Int { entries.count }

    /// Records a request to forward. False when `capacity` requests are already waiting: it is not forwarded.
    /// The wait is the request's `timeoutSeconds` (the Cast default when absent, within the Cast bounds), plus a
    /// grace of 5 s for the reply to travel back.
    public mutating func forward(_ request: IncomingCastRequest, rule: RequestMapping, now: Date) -> Bool {
        guard entries.count < capacity else { return false }
        let timeout: Double =
            switch request.context["timeoutSeconds"] {
            case .int(let i)?: Double(i)
            case .double(let d)? where !d.isNaN: d
            default: CastRequest.defaultTimeout
            }
        entries[request.correlationID] = Entry(
            request: request, rule: rule, deadline: now.addingTimeInterval(min(max(timeout, 1), CastRequest.maxTimeout) + 5))
        return true
    }

    /// The request a FHIRcast subscriber replies to: 404 when none with this id waits on this topic (unknown, or its
    /// time is up), 409 when it was answered already.
    public func awaitingReply(id: String, topic: String, now: Date) throws(HubError) -> Entry {
        guard let entry = entries[id], entry.request.topic == topic, entry.deadline > now else {
            throw .notFound("no Cast request '\(id)' is waiting for a reply on topic '\(topic)' (unknown, or its time is up)")
        }
        guard !entry.answered else { throw .conflict("Cast request '\(id)' has already been answered") }
        return entry
    }

    /// The reply went back: any other reply to it is a 409 until it expires.
    public mutating func answered(id: String) {
        entries[id]?.answered = true
    }

    public mutating func expire(now: Date) {
        entries = entries.filter { $0.value.deadline > now }
    }
}
