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
struct FirstByteGuardChannel<Inner: ServerChildChannel>: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let inner: Inner.Value
        let state: FirstByteState
        var channel: any Channel { inner.channel }
    }

    let inner: Inner
    let timeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let state = FirstByteState()
        let timeout = self.timeout
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(FirstByteHandler(state: state, timeout: timeout), position: .first)
        }.flatMap {
            inner.setup(channel: channel, logger: logger)
        }.map { Value(inner: $0, state: state) }
    }

    func handle(value: Value, logger: Logger) async {
        await withGracefulShutdownHandler {
            await inner.handle(value: value.inner, logger: logger)
        } onGracefulShutdown: {
            if !value.state.sawData { value.channel.close(promise: nil) }
        }
    }
}

/// Whether a connection has sent anything yet; read from the shutdown handler, written on the event loop.
final class FirstByteState: Sendable {
    private let seen = Mutex(false)
    var sawData: Bool { seen.withLock { $0 } }
    func markSeen() { seen.withLock { $0 = true } }
}

private final class FirstByteHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let state: FirstByteState
    let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(state: FirstByteState, timeout: TimeAmount) {
        self.state = state
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            loopBound.value.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        state.markSeen()
        timer?.cancel()
        timer = nil
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }
}
