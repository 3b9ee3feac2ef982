/// What changed in the part of the hub's state that outlives a process, since the edge last took it
/// (`HubState.takeChanges()`): topic contexts, and webhook subscriptions. A store writes it; nothing here knows how.
///
/// WebSocket subscriptions are not in it: a socket does not survive a restart, and its subscriber subscribes again.
public struct HubChanges: Sendable {
    /// Topics whose context was created or changed, as they are now.
    public var savedTopics: [String: TopicContext] = [:]
    /// Topics the hub forgot (idle, without subscribers).
    public var forgottenTopics: Set<String> = []
    /// Webhook subscriptions created, renewed or verified, as they are now.
    public var savedSubscriptions: [SubscriptionID: Subscription] = [:]
    /// Webhook subscriptions that ended: unsubscribed, lease over, refused, unresponsive.
    public var endedSubscriptions: Set<SubscriptionID> = []
    /// For each topic saved or forgotten: its `sequence` before these changes. A store shared by several nodes writes
    /// the topic only if it still holds that number, and reports a conflict otherwise (`HubCommit`).
    public var topicBasis: [String: Int64] = [:]
    /// Events accepted with these changes, in order, for a store that carries them to the other nodes of a cluster.
    public var events: [SharedEvent] = []

    public init() {}

    public var isEmpty: Bool {
        savedTopics.isEmpty && forgottenTopics.isEmpty && savedSubscriptions.isEmpty && endedSubscriptions.isEmpty && events.isEmpty
    }

    /// Adds the changes made after these, so that a store writes both batches as one (the later one wins).
    public mutating func merge(_ later: HubChanges) {
        for topic in later.forgottenTopics { savedTopics.removeValue(forKey: topic) }
        forgottenTopics.subtract(later.savedTopics.keys)
        forgottenTopics.formUnion(later.forgottenTopics)
        savedTopics.merge(later.savedTopics) { _, new in new }
        for id in later.endedSubscriptions { savedSubscriptions.removeValue(forKey: id) }
        endedSubscriptions.subtract(later.savedSubscriptions.keys)
        endedSubscriptions.formUnion(later.endedSubscriptions)
        savedSubscriptions.merge(later.savedSubscriptions) { _, new in new }
        topicBasis.merge(later.topicBasis) { earlier, _ in earlier }
        events.append(contentsOf: later.events)
    }

    /// The topics these changes write.
    public var topics: Set<String> { Set(savedTopics.keys).union(forgottenTopics) }

    /// These changes without those of `topics` (a store refused them: another node wrote them first).
    public func removing(topics excluded: Set<String>) -> HubChanges {
        var rest = self
        for topic in excluded {
            rest.savedTopics.removeValue(forKey: topic)
            rest.forgottenTopics.remove(topic)
            rest.topicBasis.removeValue(forKey: topic)
        }
        rest.events.removeAll { excluded.contains($0.event.event.topic) }
        return rest
    }
}

/// What a store holds for the hub, and gives back at start (`HubState.restore`).
public struct HubRecords: Sendable, Codable {
    public var topics: [String: TopicContext]
    public var subscriptions: [SubscriptionID: Subscription]

    public init(topics: [String: TopicContext] = [:], subscriptions: [SubscriptionID: Subscription] = [:]) {
        self.topics = topics
        self.subscriptions = subscriptions
    }

    /// The records once `changes` are written.
    public mutating func apply(_ changes: HubChanges) {
        for topic in changes.forgottenTopics { topics.removeValue(forKey: topic) }
        topics.merge(changes.savedTopics) { _, new in new }
        for id in changes.endedSubscriptions { subscriptions.removeValue(forKey: id) }
        subscriptions.merge(changes.savedSubscriptions) { _, new in new }
    }
}
