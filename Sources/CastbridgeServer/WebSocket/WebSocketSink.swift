import NIOCore
import NIOWebSocket

/// Commands for the writer half of a websocket session.
enum SessionCommand: Sendable {
    case frame(ByteBuffer)
    /// Optionally send a last frame, then close with this code.
    case close(WebSocketErrorCode, last: ByteBuffer?)
}

/// The sink of a websocket subscriber: a bounded queue drained by the session's writer.
struct WebSocketSink: DeliverySink {
    let continuation: AsyncStream<SessionCommand>.Continuation
    let channel: any Channel

    func send(_ buffer: ByteBuffer) -> Bool {
        if case .enqueued = continuation.yield(.frame(buffer)) { return true }
        return false
    }

    func enqueue(_ event: OutboundEvent) -> Bool { send(event.body) }

    func deny(frame: ByteBuffer) {
        closeOrAbort(.close(.normalClosure, last: frame))
    }

    func shutdown() {
        closeOrAbort(.close(.goingAway, last: nil))
    }

    func abort() {
        continuation.finish()
        channel.close(promise: nil)
    }

    private func closeOrAbort(_ command: SessionCommand) {
        if case .enqueued = continuation.yield(command) {
            continuation.finish()
        } else {
            abort()
        }
    }
}
