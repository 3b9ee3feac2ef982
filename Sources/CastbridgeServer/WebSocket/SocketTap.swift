import NIOCore
import NIOWebSocket
import Synchronization

/// What a websocket peer said when it closed: the status code of its close frame, if it sent one.
///
/// The WebSocket library answers close frames itself and does not hand their code to the handler; FHIRcast
/// needs it (no SyncError for 1000/1001, C24/C33), so the socket's tap records it.
final class CloseCodeBox: Sendable {
    private let state = Mutex<(received: Bool, code: Int?)>((false, nil))

    func record(_ code: Int?) { state.withLock { $0 = (true, code) } }

    /// nil: the peer vanished without a close frame. `.some(nil)`: a close frame without a status code.
    var closeFrame: Int?? {
        state.withLock { $0.received ? .some($0.code) : nil }
    }
}

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

/// A pass-through handler right after the WebSocket frame decoder of an upgraded socket. It records the peer's
/// close code, and it is where the hubs write text frames straight onto the socket's event loop: no task and no
/// `await` per frame, and one event-loop task for all the sockets of a loop that get the same event.
final class SocketTap: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let box: CloseCodeBox
    let backlog: Backlog
    let bypass: FrameBypass
    /// Takes complete text frames it can handle on the event loop (FHIRcast ACKs); the rest go on to the session.
    let onText: (@Sendable (ByteBuffer) -> Bool)?
    private var context: ChannelHandlerContext?
    /// Frames written while the socket was not writable: still held, still counted in the backlog.
    private var held = 0

    init(box: CloseCodeBox, backlog: Backlog, bypass: FrameBypass, onText: (@Sendable (ByteBuffer) -> Bool)?) {
        self.box = box
        self.backlog = backlog
        self.bypass = bypass
        self.onText = onText
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        backlog.settle(held)
        held = 0
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if frame.opcode == .connectionClose {
            var payload = frame.unmaskedData
            box.record(payload.readInteger(as: UInt16.self).map(Int.init))
        } else if frame.opcode == .text, frame.fin, frame.rsv1 == false, let onText, onText(frame.unmaskedData) {
            return
        }
        context.fireChannelRead(data)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            backlog.settle(held)
            held = 0
        }
        context.fireChannelWritabilityChanged()
    }

    /// Writes one encoded text frame (`TextMessage.frame`) and flushes it (on the event loop).
    func write(frame: ByteBuffer) {
        guard let context, bypass.write(frame: frame) else {
            backlog.settle(1)
            return
        }
        if context.channel.isWritable { backlog.settle(1) } else { held += 1 }
    }
}

/// Where a sink writes a socket's frames directly: its tap, on its event loop, bounded by its backlog.
struct DirectPath: Sendable {
    let tap: NIOLoopBound<SocketTap>
    let backlog: Backlog
    var eventLoop: any EventLoop { tap.eventLoop }

    /// Inserts the tap after the WebSocket frame decoder of an upgraded channel, and its bypass before the frame
    /// encoder. Nil if the channel is gone.
    static func install(
        on channel: any Channel, limit: Int, onText: (@Sendable (ByteBuffer) -> Bool)? = nil
    ) async -> (DirectPath, CloseCodeBox)? {
        let box = CloseCodeBox()
        let backlog = Backlog(limit: limit)
        let tap = try? await channel.eventLoop.submit {
            let ops = channel.pipeline.syncOperations
            let decoder = try ops.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            let encoder = try ops.handler(type: WebSocketFrameEncoder.self)
            let bypass = FrameBypass()
            try ops.addHandler(bypass, position: .before(encoder))
            let tap = SocketTap(box: box, backlog: backlog, bypass: bypass, onText: onText)
            try ops.addHandler(tap, position: .after(decoder))
            return NIOLoopBound(tap, eventLoop: channel.eventLoop)
        }.get()
        return tap.map { (DirectPath(tap: $0, backlog: backlog), box) }
    }
}

/// Frames for many sockets, written with one task per event loop rather than one per socket.
struct WriteBatch: ~Copyable {
    private var loops: [ObjectIdentifier: (loop: any EventLoop, writes: [(NIOLoopBound<SocketTap>, ByteBuffer)])] = [:]

    init() {}

    /// Adds one frame for one socket.
    mutating func add(_ path: DirectPath, _ message: TextMessage) {
        let key = ObjectIdentifier(path.eventLoop)
        loops[key, default: (path.eventLoop, [])].writes.append((path.tap, message.frame))
    }

    consuming func submit() {
        for (_, entry) in loops {
            let writes = entry.writes
            entry.loop.execute {
                for (tap, frame) in writes { tap.value.write(frame: frame) }
            }
        }
    }
}
