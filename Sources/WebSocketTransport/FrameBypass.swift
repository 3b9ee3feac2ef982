import NIOCore
import NIOWebSocket
import Synchronization

/// Sits just before the WebSocket frame encoder (on the socket's side of it): frames already encoded
/// (`TextMessage.frame`) are written from here, so they skip the encoder; the encoder's own output passes through.
package final class FrameBypass: ChannelOutboundHandler, RemovableChannelHandler {
    package typealias OutboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    private var context: ChannelHandlerContext?

    package func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    package func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Writes and flushes one encoded frame. False when the handler is gone (the channel closed).
    package func write(frame: ByteBuffer) -> Bool {
        guard let context else { return false }
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        return true
    }
}
