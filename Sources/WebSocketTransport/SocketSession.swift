import NIOCore
import NIOWebSocket
import Synchronization

/// One upgraded WebSocket connection, as a channel handler after NIO's frame decoder and fragment aggregator.
///
/// An idle subscriber costs its channel and this handler: no task, no stream, no buffer of its own. The handler
/// - answers pings, pings the peer (`pingInterval`) and drops it when a ping goes unanswered;
/// - runs the close handshake both ways: it echoes a peer's close frame and ends the connection; a close the hub
///   asks for (`close`) sends the close frame and ends the connection when the peer answers, or after
///   `closeTimeout`;
/// - writes the hubs' frames (`write(frame:)`, already encoded, past the library's frame encoder through its
///   `FrameBypass`), counted down from the socket's `Backlog` once the socket has taken them;
/// - hands text messages to `fastText` on the event loop, and everything else the hub must see (other text, the
///   end of the socket with the peer's close code) to the hub's consumer in order: one task while events are
///   pending, none otherwise. Events wait until the socket is attached (`start`). Past `maxQueued` waiting events
///   the socket is not read until the hub catches up.
package final class SocketSession: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = WebSocketFrame
    package typealias OutboundOut = WebSocketFrame

    package static let maxQueued = 64

    package let options: SocketOptions
    package let backlog: Backlog
    package let bypass: FrameBypass
    package let eventLoop: any EventLoop
    private var context: ChannelHandlerContext?
    /// Frames written while the socket was not writable: still held, still counted in the backlog.
    private var held = 0

    /// Open or closing, pings, the peer's close, the events waiting for the hub (pure).
    private var machine = SocketStateMachine(maxQueued: SocketSession.maxQueued)
    private var consumer: SocketConsumer?
    /// The socket is not read until the hub has taken what waits (`maxQueued`).
    package var readPaused: Bool { machine.readPaused }

    private var closeTimer: Scheduled<Void>?
    private var pinger: RepeatedTask?

    package init(options: SocketOptions, backlog: Backlog, bypass: FrameBypass, eventLoop: any EventLoop) {
        self.options = options
        self.backlog = backlog
        self.bypass = bypass
        self.eventLoop = eventLoop
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let period = options.pingInterval {
            let session = NIOLoopBound(self, eventLoop: eventLoop)
            pinger = eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in session.value.pingDue() }
        }
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        stopTimers()
        self.context = nil
        backlog.settle(held)
        held = 0
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            let text = frame.unmaskedData
            if let fast = options.fastText, fast(text) { return }
            push(.text(text))
        case .binary:
            if options.binaryCloses { close(.unacceptableData) }
        case .ping:
            guard machine.shouldAnswerPing() else { return }
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .pong:
            machine.receivedPong()
        case .connectionClose:
            var payload = frame.unmaskedData
            switch machine.receivedClose(code: payload.readInteger(as: UInt16.self).map(Int.init)) {
            case .closeConnection:
                context.close(promise: nil)  // the answer to our close frame
            case .echo(let code):
                backlog.close()
                var echo = context.channel.allocator.buffer(capacity: 2)
                if let code { echo.writeInteger(UInt16(code)) }
                let session = NIOLoopBound(self, eventLoop: eventLoop)
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: echo)))
                    .whenComplete { _ in session.value.context?.close(promise: nil) }
            }
        default:
            break  // continuation frames are joined by the aggregator before they get here
        }
    }

    package func channelInactive(context: ChannelHandlerContext) {
        stopTimers()
        backlog.close()
        push(.closed(closeFrame: machine.peerClose))  // NIO reports a channel's end once
        context.fireChannelInactive()
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The server allows half-closed connections (for HTTP); a socket whose peer stopped sending is over.
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Broken fragmentation or a message over the size limit; frame-level errors were answered already by NIO's
        // protocol error handler, and I/O errors end the connection.
        switch error as? NIOWebSocketFrameAggregator.Error {
        case .accumulatedFrameSizeIsTooLarge?: close(.messageTooLarge)
        case .some: close(.protocolError)
        case nil: context.close(promise: nil)
        }
    }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            backlog.settle(held)
            held = 0
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: From the hubs (on the event loop)

    /// Writes one encoded text frame (`TextMessage.frame`) and flushes it.
    package func write(frame: ByteBuffer) {
        guard let context, !machine.isClosing, bypass.write(frame: frame) else {
            backlog.settle(1)
            return
        }
        if context.channel.isWritable { backlog.settle(1) } else { held += 1 }
    }

    /// Begins the close handshake with `code`; `written` completes once the close frame is written (or cannot be).
    package func close(_ code: WebSocketErrorCode, written: EventLoopPromise<Void>? = nil) {
        guard let context, machine.closeRequested() else {
            written?.succeed()
            return
        }
        backlog.close()
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)), promise: written)
        let session = NIOLoopBound(self, eventLoop: eventLoop)
        closeTimer = eventLoop.scheduleTask(in: options.closeTimeout) { session.value.context?.close(promise: nil) }
    }

    /// The socket is attached to its hub: its events go to `consumer` from now on, starting with those that waited.
    package func start(_ consumer: @escaping SocketConsumer) {
        self.consumer = consumer
        run(machine.attach())
    }

    // MARK: Inside

    private func pingDue() {
        guard let context else { return }
        switch machine.pingDue() {
        case .sendPing:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer())), promise: nil)
        case .drop:
            context.close(promise: nil)  // an abnormal end: no close frame
        case .nothing:
            break
        }
    }

    private func stopTimers() {
        pinger?.cancel()
        pinger = nil
        closeTimer?.cancel()
        closeTimer = nil
    }

    private func push(_ event: SocketEvent) {
        let (pause, delivery) = machine.push(event)
        if pause { context?.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in } }
        run(delivery)
    }

    /// Hands a batch to the consumer in one task; the next batch waits for it. The socket's end is the last event:
    /// once it is handed over the session lets the consumer go, for a consumer may hold this socket's sink, which
    /// holds the session (a Cast socket's answers its pings through it); kept, that cycle would keep the session, its
    /// channel and its buffers for the life of the process once the socket closed.
    private func run(_ delivery: SocketStateMachine.Delivery) {
        guard case .deliver(let events) = delivery, let consumer else { return }
        if case .closed? = events.last { self.consumer = nil }
        let session = NIOLoopBound(self, eventLoop: eventLoop)
        Task {
            for event in events { await consumer(event) }
            session.eventLoop.execute { session.value.delivered() }
        }
    }

    private func delivered() {
        let (resume, delivery) = machine.delivered()
        if resume { context?.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in } }
        run(delivery)
    }
}
