/// The per-topic subscriptions the bridge holds on a Cast hub that compares topics literally (generation B, where a
/// subscription to `*` matches nothing): one for each topic that exists for FHIRcast apps, opened and closed as that set
/// changes. Pure: the caller carries out each `Step` and reports how it went.
///
/// One step at a time: after `.open`, report `opened` or `refused` before asking for the next one.
public struct TopicFollower: Sendable {
    public enum Step: Equatable, Sendable {
        /// Subscribe to the topic and bind a socket, known from now on by `socket`.
        case open(topic: String, socket: Int)
        /// Close this socket: its topic is no longer wanted (the hub drops a subscription whose socket closes).
        case close(topic: String, socket: Int)
        /// Nothing to do until the wanted set changes.
        case idle
    }

    /// The topics to hold subscriptions on.
    public private(set) var wanted: Set<String> = []
    /// Open sockets by topic.
    public private(set) var held: [String: Int] = [:]
    /// Topics the hub refused; tried again once they leave the wanted set and come back, or on a new connection.
    public private(set) var refused: Set<String> = []
    private var opening: String?
    private var lastSocket = 0

    public init() {}

    public mutating func want(_ topics: Set<String>) {
        wanted = topics
        refused.formIntersection(topics)
    }

    /// Closes come first, so a hub at its limit has room for the opens that follow.
    public mutating func next() -> Step {
        if let (topic, socket) = held.first(where: { !wanted.contains($0.key) }) {
            held.removeValue(forKey: topic)
            return .close(topic: topic, socket: socket)
        }
        guard opening == nil,
            let topic = wanted.first(where: { held[$0] == nil && !refused.contains($0) })
        else { return .idle }
        lastSocket += 1
        opening = topic
        return .open(topic: topic, socket: lastSocket)
    }

    /// The socket of an `.open` step is bound. If its topic is no longer wanted, the next step closes it.
    public mutating func opened(_ topic: String, socket: Int) {
        if opening == topic { opening = nil }
        held[topic] = socket
    }

    /// The hub refused the subscription of an `.open` step.
    public mutating func refused(_ topic: String) {
        if opening == topic { opening = nil }
        refused.insert(topic)
    }

    /// A socket ended that no `.close` step asked for. True when it is one the follower holds: the connection to the
    /// hub is broken, and the caller starts over (`reset`).
    public mutating func ended(socket: Int) -> Bool {
        guard let topic = held.first(where: { $0.value == socket })?.key else { return false }
        held.removeValue(forKey: topic)
        return true
    }

    /// A new connection to the hub: nothing is held any more; every wanted topic is opened again, refused ones too.
    public mutating func reset() {
        held = [:]
        refused = []
        opening = nil
    }
}
