import NIOCore
import NIOWebSocket
import Synchronization

/// Frames handed to a socket and not yet taken by it: counted up by the hub as it hands them over, down by the
/// event loop once a frame is written and the socket is still writable (or once it becomes writable again).
/// Bounds what a subscriber that does not read can make the server hold.
final class Backlog: Sendable {
    private let count = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)
    let limit: Int

    init(limit: Int) { self.limit = max(limit, 2) }

    /// Takes room for one frame; false when the socket already holds `limit` frames or is closing.
    func reserve() -> Bool {
        guard !closed.load(ordering: .relaxed) else { return false }
        if count.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
        count.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    var isFull: Bool { count.load(ordering: .relaxed) >= limit }

    /// Counts one frame in whatever the state: the last frame before a close.
    func reserveLast() { count.wrappingAdd(1, ordering: .relaxed) }

    func settle(_ n: Int) { count.wrappingSubtract(n, ordering: .relaxed) }

    /// No more frames: the socket is being closed. False if it was closing already.
    @discardableResult func close() -> Bool { !closed.exchange(true, ordering: .relaxed) }
}

/// A text message, and the same message as a complete WebSocket frame.
///
/// A server's frames are not masked (RFC 6455 §5.1), so a frame's bytes are the same for every socket that gets it:
/// a fan-out frames an event once and writes that one buffer to each socket (`FrameBypass`). Through the library's
/// frame encoder each socket costs a separate header buffer, as the shared payload cannot take the header in place.
struct TextMessage: Sendable {
    let payload: ByteBuffer
    let frame: ByteBuffer

    init(_ payload: ByteBuffer) {
        self.payload = payload
        let n = payload.readableBytes
        var frame = ByteBufferAllocator().buffer(capacity: n + 10)
        frame.writeInteger(UInt8(0x81))  // FIN, text
        if n < 126 {
            frame.writeInteger(UInt8(n))
        } else if n <= Int(UInt16.max) {
            frame.writeInteger(UInt8(126))
            frame.writeInteger(UInt16(n))
        } else {
            frame.writeInteger(UInt8(127))
            frame.writeInteger(UInt64(n))
        }
        frame.writeImmutableBuffer(payload)
        self.frame = frame
    }
}

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

/// What a socket's hub learns from it, in order, once the socket is attached (`SocketSession.start`).
enum SocketEvent: Sendable {
    /// A complete text message that the socket's fast path (`SocketOptions.fastText`) did not take.
    case text(ByteBuffer)
    /// The socket ended. `closeFrame` is nil when the peer vanished without a close frame, `.some(nil)` for a close
    /// frame without a status code.
    case closed(closeFrame: Int??)
}

/// Takes a socket's events, one at a time, in order.
typealias SocketConsumer = @Sendable (SocketEvent) async -> Void

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
final class SocketSession: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    static let maxQueued = 64

    let options: SocketOptions
    let backlog: Backlog
    let bypass: FrameBypass
    let eventLoop: any EventLoop
    private var context: ChannelHandlerContext?
    /// Frames written while the socket was not writable: still held, still counted in the backlog.
    private var held = 0

    private var queue: [SocketEvent] = []
    private var consumer: SocketConsumer?
    private var delivering = false
    /// The socket is not read until the hub has taken what waits (`maxQueued`).
    private(set) var readPaused = false

    /// A close frame has been sent: nothing else is written.
    private var closing = false
    /// The peer's close frame: nil until one arrives; then its status code, if it had one.
    private var peerClose: Int?? = nil
    private var closeTimer: Scheduled<Void>?
    private var pinger: RepeatedTask?
    private var awaitingPong = false

    init(options: SocketOptions, backlog: Backlog, bypass: FrameBypass, eventLoop: any EventLoop) {
        self.options = options
        self.backlog = backlog
        self.bypass = bypass
        self.eventLoop = eventLoop
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let period = options.pingInterval {
            let session = NIOLoopBound(self, eventLoop: eventLoop)
            pinger = eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in session.value.pingDue() }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopTimers()
        self.context = nil
        backlog.settle(held)
        held = 0
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            let text = frame.unmaskedData
            if let fast = options.fastText, fast(text) { return }
            push(.text(text))
        case .binary:
            if options.binaryCloses { close(.unacceptableData) }
        case .ping:
            guard !closing else { return }
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .pong:
            awaitingPong = false
        case .connectionClose:
            var payload = frame.unmaskedData
            peerClose = .some(payload.readInteger(as: UInt16.self).map(Int.init))
            guard !closing else {
                context.close(promise: nil)  // the answer to our close frame
                return
            }
            closing = true
            backlog.close()
            // Echo the status code (RFC 6455 §5.5.1), then end the connection.
            var echo = context.channel.allocator.buffer(capacity: 2)
            if case .some(.some(let code)) = peerClose { echo.writeInteger(UInt16(code)) }
            let session = NIOLoopBound(self, eventLoop: eventLoop)
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: echo)))
                .whenComplete { _ in session.value.context?.close(promise: nil) }
        default:
            break  // continuation frames are joined by the aggregator before they get here
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimers()
        backlog.close()
        push(.closed(closeFrame: peerClose))  // NIO reports a channel's end once
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The server allows half-closed connections (for HTTP); a socket whose peer stopped sending is over.
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Broken fragmentation or a message over the size limit; frame-level errors were answered already by NIO's
        // protocol error handler, and I/O errors end the connection.
        switch error as? NIOWebSocketFrameAggregator.Error {
        case .accumulatedFrameSizeIsTooLarge?: close(.messageTooLarge)
        case .some: close(.protocolError)
        case nil: context.close(promise: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            backlog.settle(held)
            held = 0
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: From the hubs (on the event loop)

    /// Writes one encoded text frame (`TextMessage.frame`) and flushes it.
    func write(frame: ByteBuffer) {
        guard let context, !closing, bypass.write(frame: frame) else {
            backlog.settle(1)
            return
        }
        if context.channel.isWritable { backlog.settle(1) } else { held += 1 }
    }

    /// Begins the close handshake with `code`; `written` completes once the close frame is written (or cannot be).
    func close(_ code: WebSocketErrorCode, written: EventLoopPromise<Void>? = nil) {
        guard let context, !closing else {
            written?.succeed()
            return
        }
        closing = true
        backlog.close()
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)), promise: written)
        let session = NIOLoopBound(self, eventLoop: eventLoop)
        closeTimer = eventLoop.scheduleTask(in: options.closeTimeout) { session.value.context?.close(promise: nil) }
    }

    /// The socket is attached to its hub: its events go to `consumer` from now on, starting with those that waited.
    func start(_ consumer: @escaping SocketConsumer) {
        self.consumer = consumer
        pump()
    }

    // MARK: Inside

    private func pingDue() {
        guard let context, !closing else { return }
        if awaitingPong {
            context.close(promise: nil)  // an abnormal end: no close frame
            return
        }
        awaitingPong = true
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer())), promise: nil)
    }

    private func stopTimers() {
        pinger?.cancel()
        pinger = nil
        closeTimer?.cancel()
        closeTimer = nil
    }

    private func push(_ event: SocketEvent) {
        queue.append(event)
        if queue.count >= Self.maxQueued, !readPaused, let context {
            readPaused = true
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        }
        pump()
    }

    /// Hands what is queued to the consumer in one task; the next batch waits for it.
    private func pump() {
        guard let consumer, !delivering, !queue.isEmpty else { return }
        delivering = true
        let events = queue
        queue.removeAll()
        let session = NIOLoopBound(self, eventLoop: eventLoop)
        Task {
            for event in events { await consumer(event) }
            session.eventLoop.execute { session.value.delivered() }
        }
    }

    private func delivered() {
        delivering = false
        if readPaused, queue.count < Self.maxQueued {
            readPaused = false
            context?.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
        pump()
    }
}

/// Where a sink writes a socket's frames directly: its session, on its event loop, bounded by its backlog.
struct DirectPath: Sendable {
    let session: NIOLoopBound<SocketSession>
    let backlog: Backlog
    let channel: any Channel
    var eventLoop: any EventLoop { session.eventLoop }

    /// Adds a session to a channel just upgraded by NIO's WebSocket upgrader (its frame encoder and decoder in
    /// place): the fragment aggregator, the session after it, and the session's bypass before the frame encoder.
    static func install(on channel: any Channel, options: SocketOptions, maxMessageBytes: Int) throws -> DirectPath {
        let ops = channel.pipeline.syncOperations
        let encoder = try ops.handler(type: WebSocketFrameEncoder.self)
        let bypass = FrameBypass()
        try ops.addHandler(bypass, position: .before(encoder))
        try ops.addHandler(
            NIOWebSocketFrameAggregator(
                minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 65_536, maxAccumulatedFrameSize: maxMessageBytes))
        let backlog = Backlog(limit: options.backlog)
        let session = SocketSession(options: options, backlog: backlog, bypass: bypass, eventLoop: channel.eventLoop)
        try ops.addHandler(session)
        return DirectPath(session: NIOLoopBound(session, eventLoop: channel.eventLoop), backlog: backlog, channel: channel)
    }

    /// Starts handing the socket's events to its hub (from any thread).
    func start(_ consumer: @escaping SocketConsumer) {
        let session = self.session
        eventLoop.execute { session.value.start(consumer) }
    }
}

/// Frames for many sockets, written with one task per event loop rather than one per socket.
struct WriteBatch: ~Copyable {
    private var loops: [ObjectIdentifier: (loop: any EventLoop, writes: [(NIOLoopBound<SocketSession>, ByteBuffer)])] = [:]

    init() {}

    /// Adds one frame for one socket.
    mutating func add(_ path: DirectPath, _ message: TextMessage) {
        let key = ObjectIdentifier(path.eventLoop)
        loops[key, default: (path.eventLoop, [])].writes.append((path.session, message.frame))
    }

    consuming func submit() {
        for (_, entry) in loops {
            let writes = entry.writes
            entry.loop.execute {
                for (session, frame) in writes { session.value.write(frame: frame) }
            }
        }
    }
}
