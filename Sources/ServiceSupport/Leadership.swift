/// Something one node of a cluster does at a time (the bridge's link to an external Cast hub): the node that leads
/// does it until it stops or loses the lead, then another takes over. The PostgreSQL store is one (an advisory lock
/// held on a connection of its own); a single node (`SingleNode`) always leads.
package protocol Leadership: Sendable {
    /// Whether other nodes may lead instead of this one.
    var spansNodes: Bool { get }
    /// Waits until this node leads `role`, then runs `lead` until it returns or the lead is lost (`lead` is then
    /// cancelled), and returns. Returns at once when cancelled.
    func whileLeading(_ role: LeadershipRole, _ lead: @escaping @Sendable () async -> Void) async
}

/// What is led: each role has its own lock.
package enum LeadershipRole: Int64, Sendable {
    /// The bridge's subscription on an external Cast hub.
    case bridgeLink = 0x6362_6272_6964_6765
}
