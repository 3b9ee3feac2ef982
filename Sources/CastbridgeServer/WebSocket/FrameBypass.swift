import NIOCore
import NIOWebSocket
import Synchronization

/// Sits just before the WebSocket frame encoder (on the socket's side of it): frames already encoded
/// (`TextMessage.frame`) are written from here, so they skip the encoder; the encoder's own output passes through.
final class FrameBypass: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Writes and flushes one encoded frame. False when the handler is gone (the channel closed).
    func write(frame: ByteBuffer) -> Bool {
        guard let context else { return false }
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        return true
    }
}
