import Logging
import NIOCore
import NIOWebSocket

/// Commands of a sink without a socket (the bridge's in-process connection to the embedded Cast hub).
package enum SessionCommand: Sendable {
    case frame(ByteBuffer)
    /// Optionally send a last frame, then close with this code.
    case close(WebSocketErrorCode, last: ByteBuffer?)
}

/// The identity of one sink: a new socket on the same endpoint gets a new one.
package final class SinkToken: Sendable {}

/// The sink of a websocket subscriber, bounded.
///
/// A socket's frames, and its close, are written straight onto its event loop by its `SocketSession`
/// (`DirectPath`): nothing waits per connection. A close is queued on the event loop after every frame handed
/// over before it (the loop runs its tasks in order).
///
/// The bridge's in-process connection to the embedded Cast hub has no socket: its frames and its close go through a
/// bounded queue that the bridge reads (`queue(capacity:)`).
package struct WebSocketSink: Sendable {
    private enum Target: Sendable {
        case socket(DirectPath)
        case queue(AsyncStream<SessionCommand>.Continuation)
    }

    private let target: Target
    package let token = SinkToken()

    /// A socket's sink.
    package init(direct: DirectPath) {
        target = .socket(direct)
    }

    /// A sink without a socket, with room for `capacity` commands (at least 2, so that a last frame and a close fit).
    package static func queue(capacity: Int) -> (WebSocketSink, AsyncStream<SessionCommand>) {
        let (commands, continuation) = AsyncStream<SessionCommand>.makeStream(bufferingPolicy: .bufferingOldest(max(capacity, 2)))
        return (WebSocketSink(target: .queue(continuation)), commands)
    }

    private init(target: Target) { self.target = target }

    /// Frames handed over and not yet taken by the socket (0 for a sink without one).
    package var queued: Int {
        if case .socket(let direct) = target { return direct.backlog.queued }
        return 0
    }

    /// Sends one text message now. False when the subscriber's backlog is full or it is closing.
    package func send(_ buffer: ByteBuffer) -> Bool {
        var batch = WriteBatch()
        guard enqueue(TextMessage(buffer), into: &batch) else { return false }
        batch.submit()
        return true
    }

    /// Adds one message to a batch that the caller submits (a fan-out), or queues it when there is no socket.
    package func enqueue(_ message: TextMessage, into batch: inout WriteBatch) -> Bool {
        switch target {
        case .socket(let direct):
            guard direct.backlog.reserve() else { return false }
            batch.add(direct, message)
            return true
        case .queue(let continuation):
            if case .enqueued = continuation.yield(.frame(message.payload)) { return true }
            return false
        }
    }

    package func deny(frame: ByteBuffer) { close(.normalClosure, last: frame) }

    /// Closes with 1000 and no last frame (a removed Cast subscription).
    package func end() { close(.normalClosure, last: nil) }

    package func shutdown() -> EventLoopFuture<Void>? { close(.goingAway, last: nil) }

    /// Ends at once, dropping what is queued (overflow, a second connection on the endpoint).
    package func abort() {
        switch target {
        case .socket(let direct):
            direct.backlog.close()
            direct.channel.close(promise: nil)
        case .queue(let continuation):
            continuation.finish()
        }
    }

    /// Ends the queue of a sink without a socket (the bridge closing its own connection).
    package func finish() {
        if case .queue(let continuation) = target { continuation.finish() }
    }

    /// No more frames; `last`, then the close frame with `code`. For a socket, the returned future completes once
    /// the close frame is written, or cannot be (the session drops the connection `closeTimeout` after a close).
    @discardableResult
    package func close(_ code: WebSocketErrorCode, last: ByteBuffer?) -> EventLoopFuture<Void>? {
        switch target {
        case .socket(let direct):
            // A subscriber whose backlog is full reads nothing: a close frame would only queue behind it.
            if direct.backlog.isFull {
                abort()
                return nil
            }
            guard direct.backlog.close() else { return nil }  // closing already
            if let last {
                direct.backlog.reserveLast()
                var batch = WriteBatch()
                batch.add(direct, TextMessage(last))
                batch.submit()
            }
            let (session, written) = (direct.session, direct.eventLoop.makePromise(of: Void.self))
            direct.eventLoop.execute { session.value.close(code, written: written) }
            return written.futureResult
        case .queue(let continuation):
            if case .enqueued = continuation.yield(.close(code, last: last)) {
                continuation.finish()
            } else {
                abort()
            }
            return nil
        }
    }

    /// Waits for close frames being written (`close`); each completes within its session's close timeout.
    package static func waitForCloses(_ writes: [EventLoopFuture<Void>]) async {
        for write in writes { try? await write.get() }
    }
}
