import DequeModule
import Foundation

/// Events accepted from FHIRcast apps, waiting for the Cast upstream, in order. Bounded in count, in bytes (the
/// file contents events carry) and in waiting time: an event that does not fit, or waits too long, is handed back
/// so its publisher can be told; nothing leaves silently.
///
/// At most one event is in flight: `next()` moves the head out; the sender then calls `sent()` or, when the
/// upstream certainly did not take it, `retry()`, which puts it back at the head, so order is kept.
public struct Outbox<Item: Sendable>: Sendable {
    public struct Entry: Sendable {
        public var item: Item
        public var bytes: Int
        public var enqueuedAt: Date
    }

    public let capacity: Int
    /// The most bytes the waiting events may hold together.
    public let maxBytes: Int
    public let maxWait: TimeInterval
    private var queue: Deque<Entry> = []
    public private(set) var inFlight: Entry?
    /// Bytes held by the waiting events, the one in flight included.
    public private(set) var bytes = 0
    /// Events refused because the queue was full, since the start.
    public private(set) var overflowed = 0

    public init(capacity: Int, maxBytes: Int = .max, maxWait: TimeInterval) {
        self.capacity = max(1, capacity)
        self.maxBytes = max(0, maxBytes)
        self.maxWait = maxWait
    }

    /// Waiting events, the one in flight included.
    public var count: Int { queue.count + (inFlight == nil ? 0 : 1) }
    public var isEmpty: Bool { count == 0 }

    /// Whether an event holding `bytes` would fit in the byte budget now.
    public func hasRoom(forBytes bytes: Int) -> Bool { bytes <= maxBytes - self.bytes }

    /// Queues an event that holds `bytes`. False when the queue is full, in count or in bytes: the caller
    /// rejects it.
    public mutating func enqueue(_ item: Item, bytes: Int = 0, now: Date) -> Bool {
        guard count < capacity, hasRoom(forBytes: bytes) else {
            overflowed += 1
            return false
        }
        queue.append(Entry(item: item, bytes: bytes, enqueuedAt: now))
        self.bytes += bytes
        return true
    }

    /// Takes the head for sending, unless one is already in flight.
    public mutating func next() -> Item? {
        guard inFlight == nil, let head = queue.popFirst() else { return nil }
        inFlight = head
        return head.item
    }

    /// The event in flight reached the upstream.
    public mutating func sent() {
        release(inFlight)
        inFlight = nil
    }

    /// The event in flight did not reach the upstream: it goes back to the head.
    public mutating func retry() {
        guard let entry = inFlight else { return }
        inFlight = nil
        queue.prepend(entry)
    }

    /// Removes the event in flight without sending it (its fate is unknown; the caller reports it).
    public mutating func abandon() -> Item? {
        release(inFlight)
        defer { inFlight = nil }
        return inFlight?.item
    }

    /// Removes and returns the queued events that have waited longer than `maxWait` (never the one in flight).
    public mutating func expired(now: Date) -> [Item] {
        var out: [Item] = []
        while let head = queue.first, now.timeIntervalSince(head.enqueuedAt) > maxWait {
            release(head)
            out.append(queue.removeFirst().item)
        }
        return out
    }

    /// Removes everything (shutdown), in order.
    public mutating func drain() -> [Item] {
        var out = inFlight.map { [$0.item] } ?? []
        out += queue.map(\.item)
        queue.removeAll()
        inFlight = nil
        bytes = 0
        return out
    }

    private mutating func release(_ entry: Entry?) {
        if let entry { bytes -= entry.bytes }
    }
}

/// A bounded set of recent ids: the ids the bridge published to Cast, so that a Cast hub that does not
/// suppress echoes (generation B matches publishers differently) cannot loop them back.
public struct RecentIDs: Sendable {
    public let capacity: Int
    private var order: Deque<String> = []
    private var members: Set<String> = []

    public init(capacity: Int) { self.capacity = max(1, capacity) }

    public mutating func insert(_ id: String) {
        guard members.insert(id).inserted else { return }
        order.append(id)
        if order.count > capacity, let old = order.popFirst() { members.remove(old) }
    }

    public func contains(_ id: String) -> Bool { members.contains(id) }
}
