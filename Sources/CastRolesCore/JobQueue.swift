/// The provider's admission of jobs: at most `limit` run at once, at most `queueLimit` wait, in arrival order; the
/// rest are refused at once (the user is told, nothing is taken and then lost). Pure: ids in, decisions out.
public struct JobQueue: Sendable {
    public enum Admission: Sendable, Equatable {
        case start
        /// Queued behind `ahead` waiting jobs.
        case queued(ahead: Int)
        case refused
    }

    public let limit: Int
    public let queueLimit: Int
    public private(set) var running: Set<String> = []
    public private(set) var waiting: [String] = []

    public init(limit: Int, queueLimit: Int) {
        self.limit = max(1, limit)
        self.queueLimit = max(0, queueLimit)
    }

    public mutating func admit(_ id: String) -> Admission {
        if running.count < limit {
            running.insert(id)
            return .start
        }
        guard waiting.count < queueLimit else { return .refused }
        waiting.append(id)
        return .queued(ahead: waiting.count - 1)
    }

    /// A job ended: the next waiting one to start, if any.
    public mutating func finish(_ id: String) -> String? {
        guard running.remove(id) != nil else { return nil }
        guard !waiting.isEmpty else { return nil }
        let next = waiting.removeFirst()
        running.insert(next)
        return next
    }
}
