import NIOCore
import NIOWebSocket
import Synchronization

/// What a socket's hub learns from it, in order, once the socket is attached (`SocketSession.start`).
package enum SocketEvent: Sendable, Equatable {
    /// A complete text message that the socket's fast path (`SocketOptions.fastText`) did not take.
    case text(ByteBuffer)
    /// The socket ended. `closeFrame` is nil when the peer vanished without a close frame, `.some(nil)` for a close
    /// frame without a status code.
    case closed(closeFrame: Int??)
}

/// Takes a socket's events, one at a time, in order.
package typealias SocketConsumer = @Sendable (SocketEvent) async -> Void
