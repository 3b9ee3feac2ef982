/// The state of one socket, apart from its channel: open or closing, the ping the peer owes, the peer's close frame,
/// and the events waiting for the hub with the read pausing they cause. Pure, in the shape of Hummingbird's
/// `WebSocketStateMachine`: each input returns what the session must do; `SocketSession` does it on the event loop.
package struct SocketStateMachine {
    package enum State: Equatable {
        case open(awaitingPong: Bool)
        /// A close frame has been sent (by us, or as the echo of the peer's): nothing else is written.
        case closing
    }

    private(set) var state: State = .open(awaitingPong: false)
    /// The peer's close frame: nil until one arrives; then its status code, if it had one.
    private(set) var peerClose: Int?? = nil

    /// Events waiting for the hub, at most `maxQueued` before the socket stops being read.
    package let maxQueued: Int
    private var queue: [SocketEvent] = []
    private var attached = false
    private var delivering = false
    /// The socket is not read until the hub has taken what waits.
    private(set) var readPaused = false

    package init(maxQueued: Int) { self.maxQueued = maxQueued }

    package var isClosing: Bool { state == .closing }

    // MARK: Pings

    package enum PingDue: Equatable {
        case sendPing
        /// The previous ping was not answered: drop the connection without a close frame.
        case drop
        case nothing
    }

    package mutating func pingDue() -> PingDue {
        guard case .open(let awaiting) = state else { return .nothing }
        if awaiting { return .drop }
        state = .open(awaitingPong: true)
        return .sendPing
    }

    /// Whether to answer a peer's ping with a pong.
    package func shouldAnswerPing() -> Bool { !isClosing }

    package mutating func receivedPong() {
        if case .open = state { state = .open(awaitingPong: false) }
    }

    // MARK: Closing

    package enum PeerClose: Equatable {
        /// The answer to our close frame: end the connection.
        case closeConnection
        /// Echo the status code (RFC 6455 §5.5.1), then end the connection.
        case echo(code: Int?)
    }

    package mutating func receivedClose(code: Int?) -> PeerClose {
        peerClose = .some(code)
        guard !isClosing else { return .closeConnection }
        state = .closing
        return .echo(code: code)
    }

    /// The hub (or an error) closes: true when the close frame must be sent now, false when closing already.
    package mutating func closeRequested() -> Bool {
        guard !isClosing else { return false }
        state = .closing
        return true
    }

    // MARK: Events for the hub

    package enum Delivery: Equatable {
        case nothing
        /// Hand these to the hub's consumer in one task, then report `delivered()`.
        case deliver([SocketEvent])
    }

    /// An event for the hub. `pauseRead`: stop reading the socket until the hub catches up.
    package mutating func push(_ event: SocketEvent) -> (pauseRead: Bool, delivery: Delivery) {
        queue.append(event)
        var pause = false
        if queue.count >= maxQueued, !readPaused {
            readPaused = true
            pause = true
        }
        return (pause, pump())
    }

    /// The socket is attached to its hub: the events that waited go first.
    package mutating func attach() -> Delivery {
        attached = true
        return pump()
    }

    /// The hub took the last batch. `resumeRead`: read the socket again.
    package mutating func delivered() -> (resumeRead: Bool, delivery: Delivery) {
        delivering = false
        var resume = false
        if readPaused, queue.count < maxQueued {
            readPaused = false
            resume = true
        }
        return (resume, pump())
    }

    private mutating func pump() -> Delivery {
        guard attached, !delivering, !queue.isEmpty else { return .nothing }
        delivering = true
        defer { queue.removeAll() }
        return .deliver(queue)
    }
}
