import FHIRcastCore
import NIOCore
import Synchronization

/// ACK frames on their way to the hub, collected from every socket's event loop. One ACK comes back per delivery,
/// so at 1,000 subscribers an event brings 1,000 of them: they are decoded on the event loop where they arrive and
/// handed to the hub in batches, one actor turn for whatever has piled up, instead of one reader-task wake-up and
/// one actor hop each.
package final class AckInbox: Sendable {
    private let pending = Mutex<[(SubscriptionID, AckFrame)]>([])
    /// At most one pending wake-up: the hub takes everything each time it wakes.
    package let wakes: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    /// How long the hub lets ACKs pile up after the first one before it takes them. An ACK only settles its
    /// delivery (its deadline is seconds away; the tick drains the inbox before it judges deadlines), so a short
    /// wait costs nothing and turns one wake-up per ACK into one per batch.
    package static let gather = Duration.milliseconds(2)
    /// The largest frame read as an ACK here; larger ones (never a real ACK) take the session's reader path.
    package static let maxFrameBytes = 4096

    package init() {
        (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Takes a complete text frame if it is an ACK (true); anything else is left to the session's reader.
    package func offer(_ text: ByteBuffer, from id: SubscriptionID) -> Bool {
        guard text.readableBytes <= Self.maxFrameBytes, let ack = text.withUnsafeReadableBytes(AckFrame.decode) else {
            return false
        }
        let first = pending.withLock { list in
            list.append((id, ack))
            return list.count == 1
        }
        if first { wake.yield() }
        return true
    }

    package func take() -> [(SubscriptionID, AckFrame)] {
        pending.withLock { list in
            defer { list.removeAll(keepingCapacity: true) }
            return list
        }
    }

    package func finish() { wake.finish() }
}
