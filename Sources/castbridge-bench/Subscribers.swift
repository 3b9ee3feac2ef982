import CastClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

/// One WebSocket client: records every `bench-<n>` event it receives and, for FHIRcast, acknowledges it.
///
/// Built straight on NIO's HTTP/1 upgrade and WebSocket codecs, with a channel handler that records each frame on its
/// event loop and writes the ACK there: the clients share the server's two cores, so every microsecond they spend per
/// frame is taken from the server being measured (an async client per socket cost 56 µs per delivery).
struct Subscriber: Sendable {
    enum Kind: Sendable { case fhircast, cast }

    let receipts: Receipts
    private let channel: any Channel
    private let closing: ClosingFlag

    /// Subscribes on `topic`, connects, and returns once the first frame (confirmation or connection.established) came.
    static func connect(
        kind: Kind, base: String, topic: String, events: String, name: String, maxEvents: Int, ack: Bool,
        onFrame: (@Sendable (String) -> Void)? = nil, receiveBuffer: Int? = nil
    ) async throws -> Subscriber {
        let endpoint = try await subscribe(kind: kind, base: base, topic: topic, events: events, name: name)
        return try await open(endpoint, maxEvents: maxEvents, ack: ack && kind == .fhircast, onFrame: onFrame, receiveBuffer: receiveBuffer)
    }

    /// Subscribes without connecting: the socket URL to open.
    static func subscribe(kind: Kind, base: String, topic: String, events: String, name: String) async throws -> String {
        let fields = [("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", topic), ("hub.events", events), ("subscriber.name", name)]
        switch kind {
        case .fhircast:
            let r = try await HTTP.request(.POST, base + "/fhircast/STU3", body: HTTP.form(fields), contentType: "application/x-www-form-urlencoded")
            return try HTTP.endpoint(in: r.body)
        case .cast:
            // As a Cast app does, through the Cast client: the socket URL rebased onto the configured host.
            return try await CastHubClient(url: base, auth: .none).subscribe(Dictionary(uniqueKeysWithValues: fields))
        }
    }

    /// Connects a socket; `onFrame` sees every text message after the first.
    /// `receiveBuffer` fixes the socket's receive buffer (no kernel autotuning), so that a subscriber that stops reading
    /// backs up into the server soon.
    static func open(
        _ url: String, maxEvents: Int, ack: Bool, onFrame: (@Sendable (String) -> Void)? = nil, receiveBuffer: Int? = nil
    ) async throws -> Subscriber {
        guard let parts = URLComponents(string: url), let host = parts.host else { throw BenchError("not a URL: \(url)") }
        let port = parts.port ?? 80
        let path = (parts.percentEncodedPath.isEmpty ? "/" : parts.percentEncodedPath) + (parts.percentEncodedQuery.map { "?\($0)" } ?? "")
        let receipts = Receipts(events: maxEvents)
        let closing = ClosingFlag()
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let ready = OncePromise(eventLoop.makePromise(of: Void.self))
        let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: 1 << 24, automaticErrorHandling: true) { channel, _ in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    BenchFrameHandler(url: url, receipts: receipts, ack: ack, onFrame: onFrame, ready: ready, closing: closing))
            }
        }
        var bootstrap = ClientBootstrap(group: eventLoop).channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
        if let receiveBuffer { bootstrap = bootstrap.channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer)) }
        let channel = try await bootstrap
            .channelInitializer { channel in
                channel.pipeline.addHTTPClientHandlers(leftOverBytesStrategy: .forwardBytes, withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                    .flatMapThrowing { try channel.pipeline.syncOperations.addHandler(UpgradeRequest(host: "\(host):\(port)", path: path)) }
            }
            .connect(host: host, port: port).get()
        channel.closeFuture.whenComplete { _ in ready.fail(BenchError("socket \(url) closed before its first frame")) }
        let timeout = eventLoop.scheduleTask(in: .seconds(30)) { ready.fail(BenchError("socket \(url): no first frame within 30 s")) }
        defer { timeout.cancel() }
        do {
            try await ready.futureResult.get()
        } catch {
            channel.close(promise: nil)
            throw error
        }
        return Subscriber(receipts: receipts, channel: channel, closing: closing)
    }

    /// Sends a text frame.
    func send(_ text: String) {
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: text)), promise: nil)
    }

    /// Starts closing the socket with 1000: the server ends its subscription, and it is not counted as a broken socket.
    func beginClose() {
        closing.set()
        var code = ByteBuffer()
        code.write(webSocketErrorCode: .normalClosure)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: code), promise: nil)
        // The server answers with its close frame and then closes; the connection is dropped after a second if not.
        channel.eventLoop.scheduleTask(in: .seconds(1)) { [channel] in channel.close(promise: nil) }
    }

    /// Stops reading from the socket: the server's writes back up, as with an app that hangs.
    func stopReading() {
        channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
    }

    /// Returns once the connection is closed.
    func closed() async { try? await channel.closeFuture.get() }

    func close() async {
        beginClose()
        await closed()
    }
}

/// Closes every socket and waits until all are closed, so that one run's teardown does not overlap the next run.
func closeAll(_ subscribers: [Subscriber]) async {
    for s in subscribers { s.beginClose() }
    for s in subscribers { await s.closed() }
}

/// Whether this side started the close (so that the socket's end is not reported as a failure).
final class ClosingFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}

/// A promise that the first of several outcomes completes (the first frame, the socket's close, a timeout).
final class OncePromise: Sendable {
    private let promise: EventLoopPromise<Void>
    private let done = Atomic<Bool>(false)

    init(_ promise: EventLoopPromise<Void>) { self.promise = promise }

    var futureResult: EventLoopFuture<Void> { promise.futureResult }
    func succeed() { if !done.exchange(true, ordering: .acquiringAndReleasing) { promise.succeed(()) } }
    func fail(_ error: any Error) { if !done.exchange(true, ordering: .acquiringAndReleasing) { promise.fail(error) } }
}

/// Sends the upgrade request once the connection is up (the upgrade handler adds the WebSocket headers), then leaves.
private final class UpgradeRequest: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let host: String
    private let path: String

    init(host: String, path: String) {
        self.host = host
        self.path = path
    }

    func channelActive(context: ChannelHandlerContext) {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "Content-Length", value: "0")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// A socket's frames, on its event loop: records each `bench-<n>` event, acknowledges it if asked, answers pings and
/// closes. A socket that ends without this side having closed it is reported to `arrivals` (the run then stops
/// instead of waiting for events that cannot come).
private final class BenchFrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let url: String
    private let receipts: Receipts
    private let ack: Bool
    private let onFrame: (@Sendable (String) -> Void)?
    private let ready: OncePromise
    private let closing: ClosingFlag
    private var first = true
    private var fragments: ByteBuffer?
    private var closeCode: WebSocketErrorCode?

    init(url: String, receipts: Receipts, ack: Bool, onFrame: (@Sendable (String) -> Void)?, ready: OncePromise, closing: ClosingFlag) {
        self.url = url
        self.receipts = receipts
        self.ack = ack
        self.onFrame = onFrame
        self.ready = ready
        self.closing = closing
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text where frame.fin:
            message(context: context, frame.unmaskedData)
        case .text:
            fragments = frame.unmaskedData
        case .continuation:
            var more = frame.unmaskedData
            fragments?.writeBuffer(&more)
            if frame.fin, let whole = fragments {
                fragments = nil
                message(context: context, whole)
            }
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            var data = frame.unmaskedData
            closeCode = data.readWebSocketErrorCode()
            if !closing.isSet {
                var code = ByteBuffer()
                code.write(webSocketErrorCode: .normalClosure)
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: code)), promise: nil)
            }
            context.close(promise: nil)
        default:
            break
        }
    }

    private func message(context: ChannelHandlerContext, _ buffer: ByteBuffer) {
        let now = Clock.now()
        if first {
            first = false
            ready.succeed()
            return
        }
        onFrame?(String(buffer: buffer))
        guard let id = benchID(in: buffer) else { return }
        receipts.record(id.index, at: now)
        arrivals.add()
        guard ack else { return }
        var out = context.channel.allocator.buffer(capacity: 32 + id.id.readableBytes)
        out.writeStaticString(#"{"id":""#)
        out.writeImmutableBuffer(id.id)
        out.writeStaticString(#"","status":200}"#)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: out)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !closing.isSet {
            arrivals.broken("socket \(url) was closed by the server (\(closeCode.map { "close code \($0)" } ?? "no close frame"))")
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !closing.isSet { arrivals.broken("socket \(url): \(error)") }
        context.close(promise: nil)
    }
}

/// Connects `count` subscribers, `parallel` at a time.
func connectAll(
    _ count: Int, parallel: Int = 64, make: @escaping @Sendable (Int) async throws -> Subscriber
) async throws -> [Subscriber] {
    try await inParallel(count, parallel: parallel, make)
}

/// `make(0..<count)`, `parallel` at a time, in index order.
func inParallel<T: Sendable>(_ count: Int, parallel: Int, _ make: @escaping @Sendable (Int) async throws -> T) async throws -> [T] {
    try await withThrowingTaskGroup(of: (Int, T).self) { group in
        var result = [T?](repeating: nil, count: count)
        var next = 0
        while next < min(parallel, count) {
            let i = next
            group.addTask { (i, try await make(i)) }
            next += 1
        }
        while let (i, value) = try await group.next() {
            result[i] = value
            if next < count {
                let j = next
                group.addTask { (j, try await make(j)) }
                next += 1
            }
        }
        return result.compactMap { $0 }
    }
}
