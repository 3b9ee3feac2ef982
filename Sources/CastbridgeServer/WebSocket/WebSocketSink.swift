import HummingbirdWebSocket
import Logging
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

extension WebSocketSink {
    /// Drains a session's queue into the socket until a close command or the end of the queue.
    static func drain(_ commands: AsyncStream<SessionCommand>, to outbound: WebSocketOutboundWriter, logger: Logger) async {
        do {
            for await command in commands {
                switch command {
                case .frame(let buffer):
                    try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: buffer)))
                case .close(let code, let last):
                    if let last {
                        try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: last)))
                    }
                    try await outbound.close(code, reason: nil)
                    return
                }
            }
        } catch {
            logger.debug("websocket write failed", metadata: ["error": "\(error)"])
        }
    }
}
