import FHIRcastCore
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import NIOWebSocket
import Synchronization

/// What a test client saw on its socket, in order.
enum SocketEvent: Sendable, Equatable {
    case opened
    case text(String)
    /// The socket ended; the server's close code if it sent a close frame.
    case closed(Int?)
    case failed(String)
}

/// A queue of socket events that a test awaits with a timeout.
actor Inbox {
    private var items: [SocketEvent] = []
    private var waiter: (token: Int, continuation: CheckedContinuation<SocketEvent?, Never>)?
    private var nextToken = 0

    func push(_ item: SocketEvent) {
        if let w = waiter {
            waiter = nil
            w.continuation.resume(returning: item)
        } else {
            items.append(item)
        }
    }

    func next(timeout: Duration) async -> SocketEvent? {
        if !items.isEmpty { return items.removeFirst() }
        nextToken += 1
        let token = nextToken
        return await withCheckedContinuation { continuation in
            waiter = (token, continuation)
            Task {
                try? await Task.sleep(for: timeout)
                self.expire(token)
            }
        }
    }

    private func expire(_ token: Int) {
        if let w = waiter, w.token == token {
            waiter = nil
            w.continuation.resume(returning: nil)
        }
    }
}

/// A websocket client built on HummingbirdWSClient, driven from tests.
final class TestSocket: Sendable {
    enum Outgoing: Sendable { case text(String), binary([UInt8]), close(WebSocketErrorCode) }

    let inbox = Inbox()
    private let outgoing: AsyncStream<Outgoing>.Continuation

    private init(outgoing: AsyncStream<Outgoing>.Continuation) {
        self.outgoing = outgoing
    }

    /// Connects; throws when the upgrade is refused.
    static func connect(_ url: String) async throws -> TestSocket {
        let (stream, continuation) = AsyncStream<Outgoing>.makeStream()
        let socket = TestSocket(outgoing: continuation)
        let inbox = socket.inbox
        var logger = Logger(label: "test-socket")
        logger.logLevel = .critical
        Task {
            do {
                let closeFrame = try await WebSocketClient.connect(
                    url: url, configuration: .init(maxFrameSize: 1 << 22), logger: logger
                ) { inbound, outbound, _ in
                    await inbox.push(.opened)
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await message in inbound.messages(maxSize: 1 << 24) {
                                if case .text(let s) = message { await inbox.push(.text(s)) }
                            }
                        }
                        group.addTask {
                            for await item in stream {
                                switch item {
                                case .text(let s): try await outbound.write(.text(s))
                                case .binary(let b): try await outbound.write(.binary(ByteBuffer(bytes: b)))
                                case .close(let code):
                                    try await outbound.close(code, reason: nil)
                                    return
                                }
                            }
                        }
                        try await group.next()
                        group.cancelAll()
                    }
                }
                await inbox.push(.closed(closeFrame.map { Int(UInt16(webSocketErrorCode: $0.closeCode)) }))
            } catch {
                await inbox.push(.failed("\(error)"))
            }
        }
        switch await inbox.next(timeout: .seconds(5)) {
        case .opened?: return socket
        case let other: throw TestFailure("websocket did not open: \(String(describing: other))")
        }
    }

    func send(_ text: String) { outgoing.yield(.text(text)) }
    func sendBinary(_ bytes: [UInt8]) { outgoing.yield(.binary(bytes)) }
    func send(_ value: JSONValue) {
        send(String(decoding: try! JSONEncoder().encode(value), as: UTF8.self))
    }
    func ack(_ id: String, status: JSONValue = 200) { send(["id": .string(id), "status": status]) }
    func close(_ code: WebSocketErrorCode = .normalClosure) { outgoing.yield(.close(code)) }

    /// The next event, or nil after the timeout.
    func next(timeout: Duration = .seconds(3)) async -> SocketEvent? { await inbox.next(timeout: timeout) }

    /// The next text frame as JSON; nil on timeout; throws if the socket ended instead.
    func nextJSON(timeout: Duration = .seconds(3)) async throws -> JSONValue? {
        switch await next(timeout: timeout) {
        case .text(let s)?:
            guard let v = try? JSONValue.parse(Data(s.utf8)) else { throw TestFailure("not JSON: \(s)") }
            return v
        case nil: return nil
        case let other?: throw TestFailure("expected a frame, got \(other)")
        }
    }

    /// Asserts that nothing arrives for a while.
    func expectSilence(_ duration: Duration = .milliseconds(500)) async -> SocketEvent? {
        await next(timeout: duration)
    }

    /// Skips frames until the socket ends; returns the close code seen (nil if none), or fails after the timeout.
    func waitForClose(timeout: Duration = .seconds(5)) async -> (frames: [JSONValue], code: Int??) {
        var frames: [JSONValue] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            switch await next(timeout: deadline - .now) {
            case .text(let s)?:
                if let v = try? JSONValue.parse(Data(s.utf8)) { frames.append(v) }
            case .closed(let code)?: return (frames, .some(code))
            case .failed?: return (frames, .some(nil))
            case .opened?: continue
            case nil: return (frames, nil)
            }
        }
        return (frames, nil)
    }
}

/// A raw TCP websocket client that completes the upgrade and then misbehaves on purpose: it never reads,
/// never answers pings, and can vanish without a close frame (close 1006).
final class RawSocket: Sendable {
    let channel: any Channel
    private let received: Received

    private init(channel: any Channel, received: Received = Received()) {
        self.channel = channel
        self.received = received
    }

    static func connect(_ url: String) async throws -> RawSocket {
        guard let u = URL(string: url), let host = u.host, let port = u.port else { throw TestFailure("bad url \(url)") }
        let received = Received()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(received: received)) }
            }
            .connect(host: host, port: port).get()
        try await channel.writeAndFlush(ByteBuffer(string: upgradeRequest(u.path, port: port))).get()
        for _ in 0..<100 where !received.text.hasPrefix("HTTP/1.1 101") {
            try await Task.sleep(for: .milliseconds(20))
        }
        guard received.text.hasPrefix("HTTP/1.1 101") else { throw TestFailure("raw upgrade failed") }
        return RawSocket(channel: channel, received: received)
    }

    /// Sends raw request bytes on a new connection and returns everything the server answers until it closes the
    /// connection (or `timeout` passes).
    static func exchange(port: Int, _ request: String, timeout: Duration = .seconds(3)) async throws -> String {
        let received = Received()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(received: received)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(ByteBuffer(string: request)).get()
        let deadline = ContinuousClock.now + timeout
        while channel.isActive, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        try? await channel.close().get()
        return received.text
    }

    /// The request line and headers of a WebSocket upgrade to `path`.
    static func upgradeRequest(_ path: String, port: Int) -> String {
        "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    }

    /// Writes one client frame (masked, as RFC 6455 requires of clients).
    func send(_ opcode: WebSocketOpcode, _ text: String, fin: Bool = true) async throws {
        let key = WebSocketMaskingKey.random()
        var payload = ByteBuffer(string: text)
        precondition(payload.readableBytes < 126)
        payload.webSocketMask(key)
        var frame = ByteBuffer()
        frame.writeInteger(UInt8((fin ? 0x80 : 0) | UInt8(webSocketOpcode: opcode)))
        frame.writeInteger(UInt8(0x80 | payload.readableBytes))
        frame.writeBytes(key)
        frame.writeBuffer(&payload)
        try await channel.writeAndFlush(frame).get()
    }

    /// Writes one masked client frame with any first byte (FIN, RSV bits, opcode) and any payload: for frames a
    /// well-behaved client library would never send.
    func sendFrame(firstByte: UInt8, _ payload: [UInt8]) async throws {
        let key = WebSocketMaskingKey.random()
        var body = ByteBuffer(bytes: payload)
        body.webSocketMask(key)
        var frame = ByteBuffer()
        frame.writeInteger(firstByte)
        switch payload.count {
        case ..<126: frame.writeInteger(UInt8(0x80 | payload.count))
        case ...0xFFFF:
            frame.writeInteger(UInt8(0x80 | 126))
            frame.writeInteger(UInt16(payload.count))
        default:
            frame.writeInteger(UInt8(0x80 | 127))
            frame.writeInteger(UInt64(payload.count))
        }
        frame.writeBytes(key)
        frame.writeBuffer(&body)
        try await channel.writeAndFlush(frame).get()
    }

    /// Writes bytes as they are, framing or not.
    func sendRaw(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    /// Everything the server sent on this socket so far, upgrade response included.
    var receivedText: String { received.text }

    /// A plain TCP connection that sends nothing at all.
    static func idleTCP(port: Int) async throws -> RawSocket {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port).get()
        return RawSocket(channel: channel)
    }

    /// Stops reading from the socket, so the server's writes back up.
    func stopReading() async throws {
        try await channel.setOption(ChannelOptions.autoRead, value: false).get()
        try await channel.setOption(ChannelOptions.socketOption(.so_rcvbuf), value: 4096).get()
    }

    /// Drops the TCP connection without a close frame.
    func drop() async { try? await channel.close().get() }

    var isActive: Bool { channel.isActive }
}

/// The bytes a raw connection received.
final class Received: Sendable {
    private let bytes = Mutex<[UInt8]>([])
    func append(_ buffer: ByteBuffer) { bytes.withLock { $0 += buffer.readableBytesView } }
    var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
}

private final class Collector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let received: Received
    init(received: Received) { self.received = received }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received.append(unwrapInboundIn(data))
    }
}
