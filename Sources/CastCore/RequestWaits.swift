/// The HTTP requests of a Cast hub waiting for `*-response` frames (`POST /api/hub/request`, generation B's
/// `cast-get`), by request id. Pure: the caller keeps one `Waiter` (a continuation) per id and resumes the ones this
/// returns; a completion that comes before its waiter is remembered, so the waiter does not wait at all.
public struct RequestWaits<Waiter> {
    private var waiters: [String: Waiter] = [:]
    private var finished: Set<String> = []

    public init() {}

    /// A waiter for `id`. False when it must not wait: the request is finished already, or `complete` says so.
    public mutating func wait(_ id: String, as waiter: Waiter, complete: Bool) -> Bool {
        if complete || finished.contains(id) { return false }
        waiters[id] = waiter
        return true
    }

    /// The request is finished (every answer is in, or its time is up): the waiter to resume, if one waits.
    public mutating func finish(_ id: String) -> Waiter? {
        finished.insert(id)
        return waiters.removeValue(forKey: id)
    }

    /// The request has been collated: nothing more is kept for it.
    public mutating func forget(_ id: String) {
        finished.remove(id)
    }

    /// Every request finished at once (a reset): the waiters to resume.
    public mutating func finishAll() -> [Waiter] {
        let all = Array(waiters.values)
        finished.formUnion(waiters.keys)
        waiters.removeAll()
        return all
    }

    public var waiting: Int { waiters.count }
}

extension RequestWaits: Sendable where Waiter: Sendable {}
