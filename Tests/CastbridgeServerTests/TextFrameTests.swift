import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import CastbridgeServer
@testable import WebSocketTransport

@Suite("WebSocket frames encoded once per event")
struct TextFrameTests {
    /// Every length encoding of RFC 6455 §5.2 (7 bits, 16 bits, 64 bits) and their edges.
    @Test("A TextMessage's frame is what NIO's frame decoder reads as one final, unmasked text frame with the payload",
        arguments: [0, 1, 125, 126, 127, 65535, 65536, 200_000])
    func frameDecodes(length: Int) throws {
        let payload = ByteBuffer(bytes: (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let message = TextMessage(payload)
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        try channel.writeInbound(message.frame)
        let frame = try #require(try channel.readInbound(as: WebSocketFrame.self))
        #expect(frame.fin && frame.opcode == .text && frame.maskKey == nil && !frame.rsv1)
        #expect(frame.data == payload)
        #expect(message.payload == payload)
        #expect(try channel.readInbound(as: WebSocketFrame.self) == nil)
        _ = try channel.finish()
    }

    @Test("A frame written through the bypass skips the frame encoder; frames the library writes still go through it")
    func bypassOrder() throws {
        let channel = EmbeddedChannel()
        let encoder = WebSocketFrameEncoder()
        let bypass = FrameBypass()
        try channel.pipeline.syncOperations.addHandler(encoder)
        try channel.pipeline.syncOperations.addHandler(bypass, position: .before(encoder))
        let message = TextMessage(ByteBuffer(string: #"{"id":"e1"}"#))
        #expect(bypass.write(frame: message.frame))
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .pong, data: ByteBuffer(string: "p")), promise: nil)
        var written = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { written.writeBuffer(&part) }
        var expected = message.frame
        expected.writeBytes([0x8A, 0x01, UInt8(ascii: "p")])
        #expect(written == expected)
        _ = try channel.finish()
        #expect(!bypass.write(frame: message.frame))
    }
}
