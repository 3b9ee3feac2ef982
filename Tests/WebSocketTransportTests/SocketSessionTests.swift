import NIOCore
import NIOEmbedded
import NIOWebSocket
import Synchronization
import Testing

@testable import WebSocketTransport

/// The events a session handed to its hub, as text.
private final class Recorder: Sendable {
    private let events = Mutex<[String]>([])

    var consumer: SocketConsumer {
        { event in
            let line: String =
                switch event {
                case .text(let text): "text \(String(buffer: text))"
                case .closed(closeFrame: nil): "closed, no close frame"
                case .closed(closeFrame: .some(nil)): "closed, no code"
                case .closed(closeFrame: .some(.some(let code))): "closed \(code)"
                }
            self.events.withLock { $0.append(line) }
        }
    }

    var lines: [String] { events.withLock { $0 } }
}

/// A session on a test channel, installed as the upgrade installs it (after NIO's frame encoder).
private struct Harness {
    let channel: NIOAsyncTestingChannel
    let direct: DirectPath
    var loop: NIOAsyncTestingEventLoop { channel.testingEventLoop }

    static func make(_ options: SocketOptions, maxMessageBytes: Int = 1 << 16) async throws -> Harness {
        let channel = NIOAsyncTestingChannel()
        try await channel.pipeline.addHandler(WebSocketFrameEncoder())
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9))
        let direct = try await channel.testingEventLoop.executeInContext {
            try DirectPath.install(on: channel, options: options, maxMessageBytes: maxMessageBytes)
        }
        return Harness(channel: channel, direct: direct)
    }

    /// A frame as NIO's decoder hands it on: masked, as a client must send it.
    func send(_ opcode: WebSocketOpcode, _ text: String, fin: Bool = true) async throws {
        try await send(opcode, ByteBuffer(string: text), fin: fin)
    }

    func send(_ opcode: WebSocketOpcode, _ data: ByteBuffer, fin: Bool = true) async throws {
        let key = WebSocketMaskingKey.random()
        var masked = data
        masked.webSocketMask(key)
        try await channel.writeInbound(WebSocketFrame(fin: fin, opcode: opcode, maskKey: key, data: masked))
    }

    func sendClose(_ code: UInt16?) async throws {
        var data = ByteBuffer()
        if let code { data.writeInteger(code) }
        try await send(.connectionClose, data)
    }

    /// Everything written to the peer so far, as bytes.
    func written() async throws -> [UInt8] {
        await loop.run()
        var bytes: [UInt8] = []
        while var part = try await channel.readOutbound(as: ByteBuffer.self) {
            bytes += part.readBytes(length: part.readableBytes) ?? []
        }
        return bytes
    }

    /// Waits (briefly, in real time) until the recorder has `count` events.
    func wait(for recorder: Recorder, count: Int) async throws -> [String] {
        for _ in 0..<200 where recorder.lines.count < count {
            await loop.run()
            try await Task.sleep(for: .milliseconds(5))
        }
        return recorder.lines
    }

    var readPaused: Bool { get async throws { try await loop.executeInContext { direct.session.value.readPaused } } }

    var isActive: Bool { get async { (try? await loop.executeInContext { channel.isActive }) ?? false } }
}

/// A close frame as the server writes it (unmasked).
private func closeFrame(_ code: UInt16) -> [UInt8] { [0x88, 0x02, UInt8(code >> 8), UInt8(code & 0xFF)] }

@Suite("WebSocket sessions as channel handlers")
struct SocketSessionTests {
    @Test("Events wait until the socket is attached, then reach the hub in order, fragments joined, the end last with the peer's close code, which is echoed")
    func eventsInOrder() async throws {
        let h = try await Harness.make(SocketOptions(backlog: 8))
        try await h.send(.text, "a")
        try await h.send(.text, "b1", fin: false)
        try await h.send(.continuation, "b2")
        try await h.sendClose(4001)
        #expect(try await h.written() == closeFrame(4001))
        #expect(await !h.isActive)
        let recorder = Recorder()
        try await Task.sleep(for: .milliseconds(20))
        #expect(recorder.lines.isEmpty)
        h.direct.start(recorder.consumer)
        #expect(try await h.wait(for: recorder, count: 3) == ["text a", "text b1b2", "closed 4001"])
    }

    @Test("The event-loop path takes what it can; the rest becomes events")
    func fastText() async throws {
        let taken = Mutex<[String]>([])
        let options = SocketOptions(backlog: 8, fastText: { text in
            guard String(buffer: text).hasPrefix("ack") else { return false }
            taken.withLock { $0.append(String(buffer: text)) }
            return true
        })
        let h = try await Harness.make(options)
        let recorder = Recorder()
        h.direct.start(recorder.consumer)
        try await h.send(.text, "ack 1")
        try await h.send(.text, "other")
        try await h.channel.close()
        #expect(try await h.wait(for: recorder, count: 2) == ["text other", "closed, no close frame"])
        #expect(taken.withLock { $0 } == ["ack 1"])
    }

    @Test("Pings are answered with their data; a ping left unanswered drops the connection without a close frame")
    func pings() async throws {
        let h = try await Harness.make(SocketOptions(backlog: 8, pingInterval: .seconds(1)))
        let recorder = Recorder()
        h.direct.start(recorder.consumer)
        try await h.send(.ping, "p")
        #expect(try await h.written() == [0x8A, 0x01, UInt8(ascii: "p")])
        await h.loop.advanceTime(by: .seconds(1))
        #expect(try await h.written() == [0x89, 0x00])
        try await h.send(.pong, "")
        await h.loop.advanceTime(by: .seconds(1))
        #expect(try await h.written() == [0x89, 0x00])
        #expect(await h.isActive)
        await h.loop.advanceTime(by: .seconds(1))  // the second ping went unanswered
        #expect(await !h.isActive)
        #expect(try await h.written().isEmpty)
        #expect(try await h.wait(for: recorder, count: 1) == ["closed, no close frame"])
    }

    @Test("A close the hub begins: its last frame, the close frame, nothing after; the connection ends at the peer's answer")
    func hubCloseAnswered() async throws {
        let h = try await Harness.make(SocketOptions(backlog: 8))
        let recorder = Recorder()
        h.direct.start(recorder.consumer)
        let sink = WebSocketSink(direct: h.direct)
        let written = sink.close(.goingAway, last: ByteBuffer(string: "bye"))
        #expect(!sink.send(ByteBuffer(string: "late")))
        #expect(try await h.written() == [0x81, 0x03] + Array("bye".utf8) + closeFrame(1001))
        try await written?.get()
        #expect(await h.isActive)
        try await h.sendClose(1001)
        #expect(await !h.isActive)
        #expect(try await h.written().isEmpty)  // no second close frame
        #expect(try await h.wait(for: recorder, count: 1) == ["closed 1001"])
    }

    @Test("A close the hub begins ends the connection after the close timeout when the peer does not answer")
    func hubCloseTimesOut() async throws {
        let h = try await Harness.make(SocketOptions(backlog: 8, closeTimeout: .seconds(2)))
        let recorder = Recorder()
        h.direct.start(recorder.consumer)
        WebSocketSink(direct: h.direct).close(.policyViolation, last: nil)
        #expect(try await h.written() == closeFrame(1008))
        await h.loop.advanceTime(by: .seconds(1))
        #expect(await h.isActive)
        await h.loop.advanceTime(by: .seconds(1))
        #expect(await !h.isActive)
        #expect(try await h.wait(for: recorder, count: 1) == ["closed, no close frame"])
    }

    @Test("Binary frames end a Cast socket (1003) and are ignored on a FHIRcast socket", arguments: [true, false])
    func binaryFrames(closes: Bool) async throws {
        let h = try await Harness.make(SocketOptions(backlog: 8, binaryCloses: closes))
        try await h.send(.binary, "x")
        #expect(try await h.written() == (closes ? closeFrame(1003) : []))
    }

    @Test("A message over the size limit is answered with 1009, broken fragmentation with 1002")
    func badMessages() async throws {
        let big = try await Harness.make(SocketOptions(backlog: 8), maxMessageBytes: 8)
        try await big.send(.text, "12345", fin: false)
        try await big.send(.continuation, "67890")
        #expect(try await big.written() == closeFrame(1009))
        let broken = try await Harness.make(SocketOptions(backlog: 8))
        try await broken.send(.continuation, "orphan")
        #expect(try await broken.written() == closeFrame(1002))
    }

    /// A weak reference, to see whether anything still holds an object.
    struct Watched { weak var object: AnyObject? }

    @Test("A socket that ended lets its session and channel go, though the hub's consumer holds the socket's sink (as the Cast hub's does): nothing is kept per closed socket (the soak's growth, issue #16)")
    func endedSocketIsReleased() async throws {
        let session = Mutex(Watched())
        let channel = Mutex(Watched())
        let recorder = Recorder()
        var loop: NIOAsyncTestingEventLoop?
        do {
            let h = try await Harness.make(SocketOptions(backlog: 8))
            loop = h.loop
            let sink = WebSocketSink(direct: h.direct)
            let record = recorder.consumer
            h.direct.start { event in
                _ = sink.queued  // the consumer holds the sink, and so the session
                await record(event)
            }
            try await h.loop.executeInContext {
                session.withLock { $0.object = h.direct.session.value }
                channel.withLock { $0.object = h.channel }
            }
            try await h.sendClose(1000)
            #expect(try await h.wait(for: recorder, count: 1) == ["closed 1000"])
        }
        for _ in 0..<100 where session.withLock({ $0.object != nil }) {
            await loop?.run()
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(session.withLock { $0.object == nil })
        #expect(channel.withLock { $0.object == nil })
    }

    @Test("Past maxQueued waiting events the socket is not read; reading resumes once the hub has them")
    func backpressure() async throws {
        let h = try await Harness.make(SocketOptions(backlog: 8))
        for i in 0..<SocketSession.maxQueued { try await h.send(.text, "\(i)") }
        // (The test channel does not keep the autoRead option; the session's own flag is what it sets it from.)
        #expect(try await h.readPaused)
        let recorder = Recorder()
        h.direct.start(recorder.consumer)
        #expect(try await h.wait(for: recorder, count: SocketSession.maxQueued).count == SocketSession.maxQueued)
        await h.loop.run()
        #expect(try await !h.readPaused)
    }
}
