/// The numbers seen lately, at most `capacity` of them (the oldest forgotten first): enough to skip a message heard
/// twice, once as a notice and once read again after a reconnect.
struct RecentNumbers: Sendable {
    private var members: Set<Int64> = []
    private var order: [Int64] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// False when `number` was seen already.
    mutating func insert(_ number: Int64) -> Bool {
        guard members.insert(number).inserted else { return false }
        if order.count < capacity {
            order.append(number)
        } else {
            members.remove(order[head])
            order[head] = number
            head = (head + 1) % capacity
        }
        return true
    }

    func contains(_ number: Int64) -> Bool { members.contains(number) }
    var count: Int { members.count }
}
