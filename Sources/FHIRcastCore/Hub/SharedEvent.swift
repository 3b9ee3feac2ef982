/// An accepted event as the nodes of a cluster pass it on: the event as delivered (id, versions), and its number in
/// its topic's order (`TopicContext.sequence`).
public struct SharedEvent: Sendable, Codable, Equatable {
    public var event: EventNotification
    public var sequence: Int64

    public init(event: EventNotification, sequence: Int64) {
        self.event = event
        self.sequence = sequence
    }
}

/// What a store made of a batch of changes: written, except the topics another node wrote first (their writes and
/// events were left out), each with what the store holds for it now.
public struct HubCommit: Sendable {
    public var conflicts: [String: TopicContext?]

    public init(conflicts: [String: TopicContext?] = [:]) {
        self.conflicts = conflicts
    }

    public static let written = HubCommit()
}
