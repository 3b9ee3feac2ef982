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

/// The identity of one sink: a new socket on the same endpoint gets a new one.
final class SinkToken: Sendable {}

/// The sink of a websocket subscriber: a bounded queue drained by the session's writer. The bridge's
/// in-process connection to the embedded Cast hub is the same queue without a socket (`channel` nil).
struct WebSocketSink: DeliverySink {
    let continuation: AsyncStream<SessionCommand>.Continuation
    let channel: (any Channel)?
    let token = SinkToken()

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
        channel?.close(promise: nil)
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
    /// A sink for one socket, with its bounded queue (at least 2, so that a last frame and a close fit).
    static func make(channel: (any Channel)?, capacity: Int) -> (WebSocketSink, AsyncStream<SessionCommand>) {
        let (commands, continuation) = AsyncStream<SessionCommand>.makeStream(
            bufferingPolicy: .bufferingOldest(max(capacity, 2)))
        return (WebSocketSink(continuation: continuation, channel: channel), commands)
    }

    /// Runs the writer half (draining `commands` into the socket) and `read` until either ends, then ends the queue.
    func serve(
        _ commands: AsyncStream<SessionCommand>, to outbound: WebSocketOutboundWriter, logger: Logger,
        read: @escaping @Sendable () async -> Void
    ) async {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await Self.drain(commands, to: outbound, logger: logger)
                return false
            }
            group.addTask {
                await read()
                return true
            }
            if await group.next() == true {
                // The reader ended first (the peer left, or a frame made us close): let the writer send what is
                // queued — a denial and its close frame — for a moment, rather than cut it off mid-close.
                continuation.finish()
                group.addTask {
                    try? await Task.sleep(for: .seconds(1))
                    return false
                }
                _ = await group.next()
            }
            group.cancelAll()
        }
        continuation.finish()
    }

    /// Drains a session's queue into the socket until a close command or the end of the queue.
    private static func drain(_ commands: AsyncStream<SessionCommand>, to outbound: WebSocketOutboundWriter, logger: Logger) async {
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
