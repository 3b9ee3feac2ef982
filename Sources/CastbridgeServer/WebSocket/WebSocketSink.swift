import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// Commands of a sink without a socket (the bridge's in-process connection to the embedded Cast hub).
enum SessionCommand: Sendable {
    case frame(ByteBuffer)
    /// Optionally send a last frame, then close with this code.
    case close(WebSocketErrorCode, last: ByteBuffer?)
}

/// The identity of one sink: a new socket on the same endpoint gets a new one.
final class SinkToken: Sendable {}

/// The sink of a websocket subscriber, bounded.
///
/// A socket's frames are written straight onto its event loop (`DirectPath`), and a close goes through the
/// WebSocket library's close handshake (`SocketCloser`). The socket's session is then a single task, its reader:
/// nothing else waits per connection, which is what an idle subscriber costs in memory. A close is queued on the
/// event loop after every frame handed over before it (the loop runs its tasks in order).
///
/// The bridge's in-process connection to the embedded Cast hub has no socket: its frames and its close go through a
/// bounded queue that the bridge reads (`queue(capacity:)`).
struct WebSocketSink: DeliverySink {
    private enum Target: Sendable {
        case socket(DirectPath, SocketCloser, any Channel)
        case queue(AsyncStream<SessionCommand>.Continuation)
    }

    private let target: Target
    let token = SinkToken()

    /// A socket's sink.
    init(direct: DirectPath, closer: SocketCloser, channel: any Channel) {
        target = .socket(direct, closer, channel)
    }

    /// A sink without a socket, with room for `capacity` commands (at least 2, so that a last frame and a close fit).
    static func queue(capacity: Int) -> (WebSocketSink, AsyncStream<SessionCommand>) {
        let (commands, continuation) = AsyncStream<SessionCommand>.makeStream(bufferingPolicy: .bufferingOldest(max(capacity, 2)))
        return (WebSocketSink(target: .queue(continuation)), commands)
    }

    private init(target: Target) { self.target = target }

    /// Sends one text message now. False when the subscriber's backlog is full or it is closing.
    func send(_ buffer: ByteBuffer) -> Bool {
        var batch = WriteBatch()
        guard enqueue(TextMessage(buffer), into: &batch) else { return false }
        batch.submit()
        return true
    }

    /// Adds one message to a batch that the caller submits (a fan-out), or queues it when there is no socket.
    func enqueue(_ message: TextMessage, into batch: inout WriteBatch) -> Bool {
        switch target {
        case .socket(let direct, _, _):
            guard direct.backlog.reserve() else { return false }
            batch.add(direct, message)
            return true
        case .queue(let continuation):
            if case .enqueued = continuation.yield(.frame(message.payload)) { return true }
            return false
        }
    }

    func enqueue(_ event: OutboundEvent, into batch: inout WriteBatch) -> Bool { enqueue(event.message, into: &batch) }

    func deny(frame: ByteBuffer) { close(.normalClosure, last: frame) }

    func shutdown() { close(.goingAway, last: nil) }

    /// Ends at once, dropping what is queued (overflow, a second connection on the endpoint).
    func abort() {
        switch target {
        case .socket(let direct, _, let channel):
            direct.backlog.close()
            channel.close(promise: nil)
        case .queue(let continuation):
            continuation.finish()
        }
    }

    /// Ends the queue of a sink without a socket (the bridge closing its own connection).
    func finish() {
        if case .queue(let continuation) = target { continuation.finish() }
    }

    /// No more frames; `last`, then the close frame with `code`.
    private func close(_ code: WebSocketErrorCode, last: ByteBuffer?) {
        switch target {
        case .socket(let direct, let closer, _):
            // A subscriber whose backlog is full reads nothing: a close frame would only queue behind it.
            if direct.backlog.isFull {
                abort()
                return
            }
            guard direct.backlog.close() else { return }  // closing already
            if let last {
                direct.backlog.reserveLast()
                var batch = WriteBatch()
                batch.add(direct, TextMessage(last))
                batch.submit()
            }
            closer.close(code)
        case .queue(let continuation):
            if case .enqueued = continuation.yield(.close(code, last: last)) {
                continuation.finish()
            } else {
                abort()
            }
        }
    }
}

/// Closes one socket through the WebSocket library's close handshake, once.
///
/// The close is asked for from the hubs' actors, which cannot wait, while the session's only task is blocked reading;
/// so it runs in a task of its own, started only when the hub closes a socket. The session waits for it before it
/// returns, so that the library's own closing of a finished session cannot overtake it; if the close frame cannot be
/// written within `limit` (the peer reads nothing and the socket is full), the connection is dropped instead.
final class SocketCloser: Sendable {
    private let outbound: WebSocketOutboundWriter
    private let channel: any Channel
    private let started = Mutex(false)
    /// Ends when the close frame is written (or failed).
    private let written: AsyncStream<Void>
    private let writtenContinuation: AsyncStream<Void>.Continuation

    init(outbound: WebSocketOutboundWriter, channel: any Channel) {
        self.outbound = outbound
        self.channel = channel
        (written, writtenContinuation) = AsyncStream<Void>.makeStream()
    }

    func close(_ code: WebSocketErrorCode) {
        guard started.withLock({ was in defer { was = true }; return !was }) else { return }
        let (outbound, done) = (self.outbound, writtenContinuation)
        Task {
            try? await outbound.close(code, reason: nil)
            done.finish()
        }
    }

    /// Waits for a close in progress, at most `limit`; past it, drops the connection.
    func settle(limit: Duration = .seconds(1)) async {
        guard started.withLock({ $0 }) else { return }
        let written = self.written
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in written {}
                return !Task.isCancelled
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !finished { channel.close(promise: nil) }
    }
}
