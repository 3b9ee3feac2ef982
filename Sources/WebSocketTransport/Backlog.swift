import NIOCore
import NIOWebSocket
import Synchronization

/// Frames handed to a socket and not yet taken by it: counted up by the hub as it hands them over, down by the
/// event loop once a frame is written and the socket is still writable (or once it becomes writable again).
/// Bounds what a subscriber that does not read can make the server hold.
package final class Backlog: Sendable {
    private let count = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)
    package let limit: Int

    package init(limit: Int) { self.limit = max(limit, 2) }

    /// Takes room for one frame; false when the socket already holds `limit` frames or is closing.
    package func reserve() -> Bool {
        guard !closed.load(ordering: .relaxed) else { return false }
        if count.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
        count.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    /// Frames handed over and not yet taken.
    package var queued: Int { max(0, count.load(ordering: .relaxed)) }

    package var isFull: Bool { count.load(ordering: .relaxed) >= limit }

    /// Counts one frame in whatever the state: the last frame before a close.
    package func reserveLast() { count.wrappingAdd(1, ordering: .relaxed) }

    package func settle(_ n: Int) { count.wrappingSubtract(n, ordering: .relaxed) }

    /// No more frames: the socket is being closed. False if it was closing already.
    @discardableResult package func close() -> Bool { !closed.exchange(true, ordering: .relaxed) }
}
