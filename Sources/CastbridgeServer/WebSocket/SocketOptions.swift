import NIOCore
import NIOWebSocket
import Synchronization

/// How one kind of socket behaves.
struct SocketOptions: Sendable {
    /// At most this many frames held for the socket (`Backlog`).
    var backlog: Int
    /// Ping period; a peer that has not answered the previous ping by the next one is dropped. Nil: no pings.
    var pingInterval: TimeAmount?
    /// How long a close the server began waits for the peer's close frame before the connection is dropped.
    var closeTimeout: TimeAmount = .seconds(2)
    /// A binary frame ends the connection (Cast: text frames only) instead of being ignored (FHIRcast).
    var binaryCloses = false
    /// Takes complete text messages on the event loop (FHIRcast ACKs); what it declines becomes a `.text` event.
    var fastText: (@Sendable (ByteBuffer) -> Bool)?
}
