import FHIRcastCore
import Foundation

/// What the bridge knows between frames, apart from its connection: the events it sent (to drop their echoes), its
/// counters, why its Cast hub is unreachable or busy, the requests it forwarded and the files it serves. Pure: the
/// bridge's actor holds one and does the I/O.
public struct BridgeState: Sendable {
    public struct Counters: Sendable, Equatable {
        public var toCast = 0
        public var toFHIRcast = 0
        public var refused = 0
        public var answered = 0
    }

    public private(set) var counters = Counters()
    /// Why the last connection attempt failed, until one succeeds.
    public private(set) var lastError: String?
    /// Why the connected hub last refused to take a publish for now (its payload store is full), until one goes.
    public private(set) var busyReason: String?
    public var forwarded: ForwardedRequests
    public var payloads: PayloadRegistry
    private var recent: RecentIDs

    public init(recentCapacity: Int = 10_000, forwardedCapacity: Int = 10_000, payloadCapacity: Int = 100_000) {
        recent = RecentIDs(capacity: recentCapacity)
        forwarded = ForwardedRequests(capacity: forwardedCapacity)
        payloads = PayloadRegistry(capacity: payloadCapacity)
    }

    // MARK: The connection

    public mutating func connected() { lastError = nil }
    public mutating func connectFailed(_ why: String) { lastError = why }

    // MARK: FHIRcast → Cast

    /// An event is about to go to the Cast hub: its echo, which can come back before the publish returns, is dropped.
    public mutating func sending(_ id: String) { recent.insert(id) }

    public mutating func sent() {
        counters.toCast += 1
        busyReason = nil
    }

    /// The hub cannot take a publish yet. True the first time in a row (worth a log line).
    public mutating func busy(_ why: String) -> Bool {
        defer { busyReason = why }
        return busyReason == nil
    }

    /// An event that did not reach the Cast hub: its publisher gets a SyncError.
    public mutating func refused() { counters.refused += 1 }

    // MARK: Cast → FHIRcast

    /// Whether a Cast event is the echo of one the bridge sent.
    public func isEcho(_ id: String) -> Bool { recent.contains(id) }

    public mutating func passedToFHIRcast() { counters.toFHIRcast += 1 }
    public mutating func answered() { counters.answered += 1 }

    // MARK: Timers

    public mutating func expire(now: Date) {
        forwarded.expire(now: now)
        payloads.expire(now: now)
    }

    // MARK: Status

    /// The bridge's part of `/health`.
    public func status(upstream: String, connected: Bool, queued: Int, queuedBytes: Int, overflowed: Int) -> JSONValue {
        var s: [String: JSONValue] = [
            "upstream": .string(upstream),
            "connected": .bool(connected),
            "queued": .int(Int64(queued)),
            "toCast": .int(Int64(counters.toCast)),
            "toFHIRcast": .int(Int64(counters.toFHIRcast)),
            "refused": .int(Int64(counters.refused)),
            "overflowed": .int(Int64(overflowed)),
            "answered": .int(Int64(counters.answered)),
        ]
        if let lastError, !connected { s["lastError"] = .string(lastError) }
        if queuedBytes > 0 { s["queuedBytes"] = .int(Int64(queuedBytes)) }
        if let busyReason { s["busy"] = .string(busyReason) }
        return .object(s)
    }
}
