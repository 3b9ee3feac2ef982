import NIOCore
import NIOWebSocket
import Synchronization

/// A text message, and the same message as a complete WebSocket frame.
///
/// A server's frames are not masked (RFC 6455 §5.1), so a frame's bytes are the same for every socket that gets it:
/// a fan-out frames an event once and writes that one buffer to each socket (`FrameBypass`). Through the library's
/// frame encoder each socket costs a separate header buffer, as the shared payload cannot take the header in place.
package struct TextMessage: Sendable {
    package let payload: ByteBuffer
    package let frame: ByteBuffer

    package init(_ payload: ByteBuffer) {
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
