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

/// The sink of a websocket subscriber, bounded. A socket's frames are written straight onto its event loop
/// (`direct`); its session's writer task only carries out closes, in order after those frames (the loop runs its
/// tasks in order). The bridge's in-process connection to the embedded Cast hub has no socket (`channel` nil): its
/// frames go through the bounded queue, to the bridge.
struct WebSocketSink: DeliverySink {
    let continuation: AsyncStream<SessionCommand>.Continuation
    let channel: (any Channel)?
    let direct: DirectPath?
    let token = SinkToken()

    /// Sends one frame now. False when the subscriber's backlog is full or it is closing.
    func send(_ buffer: ByteBuffer) -> Bool {
        var batch = WriteBatch()
        guard enqueue(buffer, into: &batch) else { return false }
        batch.submit()
        return true
    }

    /// Adds one frame to a batch that the caller submits (a fan-out), or queues it when there is no socket.
    func enqueue(_ buffer: ByteBuffer, into batch: inout WriteBatch) -> Bool {
        guard let direct else {
            if case .enqueued = continuation.yield(.frame(buffer)) { return true }
            return false
        }
        guard direct.backlog.reserve() else { return false }
        batch.add(direct, buffer)
        return true
    }

    func enqueue(_ event: OutboundEvent, into batch: inout WriteBatch) -> Bool { enqueue(event.body, into: &batch) }

    func deny(frame: ByteBuffer) {
        closeOrAbort(.close(.normalClosure, last: frame))
    }

    func shutdown() {
        closeOrAbort(.close(.goingAway, last: nil))
    }

    func abort() {
        direct?.backlog.close()
        continuation.finish()
        channel?.close(promise: nil)
    }

    private func closeOrAbort(_ command: SessionCommand) {
        direct?.backlog.close()
        if case .enqueued = continuation.yield(command) {
            continuation.finish()
        } else {
            abort()
        }
    }
}

extension WebSocketSink {
    /// A sink for one socket (`direct`: its frames go onto its event loop) or for the in-process bridge (nil: its
    /// frames are queued), with room for `capacity` frames (at least 2, so that a last frame and a close fit).
    static func make(channel: (any Channel)?, direct: DirectPath?, capacity: Int) -> (WebSocketSink, AsyncStream<SessionCommand>) {
        let (commands, continuation) = AsyncStream<SessionCommand>.makeStream(
            bufferingPolicy: .bufferingOldest(max(capacity, 2)))
        return (WebSocketSink(continuation: continuation, channel: channel, direct: direct), commands)
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
