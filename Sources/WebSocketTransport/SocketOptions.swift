import NIOCore
import NIOWebSocket
import Synchronization

/// How one kind of socket behaves.
package struct SocketOptions: Sendable {
    /// At most this many frames held for the socket (`Backlog`).
    package var backlog: Int
    /// Ping period; a peer that has not answered the previous ping by the next one is dropped. Nil: no pings.
    package var pingInterval: TimeAmount?
    /// How long a close the server began waits for the peer's close frame before the connection is dropped.
    package var closeTimeout: TimeAmount = .seconds(2)
    /// A binary frame ends the connection (Cast: text frames only) instead of being ignored (FHIRcast).
    package var binaryCloses = false
    /// Takes complete text messages on the event loop (FHIRcast ACKs); what it declines becomes a `.text` event.
    package var fastText: (@Sendable (ByteBuffer) -> Bool)?

    package init(
        backlog: Int, pingInterval: TimeAmount? = nil, closeTimeout: TimeAmount = .seconds(2), binaryCloses: Bool = false,
        fastText: (@Sendable (ByteBuffer) -> Bool)? = nil
    ) {
        self.backlog = backlog
        self.pingInterval = pingInterval
        self.closeTimeout = closeTimeout
        self.binaryCloses = binaryCloses
        self.fastText = fastText
    }
}
