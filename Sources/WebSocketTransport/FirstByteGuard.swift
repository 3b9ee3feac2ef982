import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Wraps the server's connection setup so that a connection that has not sent a single byte:
/// - is closed when graceful shutdown begins (the WebSocket-upgrade channel otherwise waits for its first
///   request forever, holding the shutdown open: connection pools open such sockets and keep them for minutes);
/// - is closed after `timeout` in any case, so idle sockets cannot accumulate.
package struct FirstByteGuardChannel<Inner: ServerChildChannel>: ServerChildChannel {
    package struct Value: ServerChildChannelValue {
        let inner: Inner.Value
        let state: FirstByteState
        package var channel: any Channel { inner.channel }
    }

    package let inner: Inner
    package let timeout: TimeAmount

    package init(inner: Inner, timeout: TimeAmount) {
        self.inner = inner
        self.timeout = timeout
    }

    package func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let state = FirstByteState()
        let timeout = self.timeout
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(FirstByteHandler(state: state, timeout: timeout), position: .first)
        }.flatMap {
            inner.setup(channel: channel, logger: logger)
        }.map { Value(inner: $0, state: state) }
    }

    package func handle(value: Value, logger: Logger) async {
        await withGracefulShutdownHandler {
            await inner.handle(value: value.inner, logger: logger)
        } onGracefulShutdown: {
            if !value.state.sawData { value.channel.close(promise: nil) }
        }
    }
}

/// Whether a connection has sent anything yet; read from the shutdown handler, written on the event loop.
package final class FirstByteState: Sendable {
    private let seen = Mutex(false)
    package var sawData: Bool { seen.withLock { $0 } }
    package func markSeen() { seen.withLock { $0 = true } }
}

private final class FirstByteHandler: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = ByteBuffer
    package typealias InboundOut = ByteBuffer

    package let state: FirstByteState
    package let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    package init(state: FirstByteState, timeout: TimeAmount) {
        self.state = state
        self.timeout = timeout
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            loopBound.value.close(promise: nil)
        }
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        state.markSeen()
        timer?.cancel()
        timer = nil
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }
}
