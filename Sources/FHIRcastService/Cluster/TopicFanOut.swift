import ServiceSupport
import FHIRcastCore

/// Carries the events this node's hub accepts to the hubs of the other nodes of a cluster, and theirs to it: each
/// node delivers an event to its own subscribers (`HubState.replicate`). The PostgreSQL store is one (`StateStores`);
/// a single node has no one to tell.
package protocol TopicFanOut: Sendable {
    /// Whether there are other nodes. False: the hub never calls `share`, and publishing costs nothing more.
    var spansNodes: Bool { get }
    /// Whether events reach the other nodes with the store's commit (`HubChanges.events`, written in the same
    /// transaction as the topic) instead of through `share`.
    var sharesThroughStore: Bool { get }
    /// An event this node accepted, handed on in the order of acceptance (with the versions this node gave it).
    func share(_ event: SharedEvent)
    /// The events other nodes accepted, in their order, until the fan-out ends.
    func received() -> AsyncStream<SharedEvent>
    /// A topic's events after number `after`, in order, for a node that missed them; nil when they are no longer
    /// kept (the node then takes the topic's context from `storedContext`).
    func missed(topic: String, after: Int64) async throws -> [SharedEvent]?
    /// What the cluster holds for a topic now.
    func storedContext(topic: String) async throws -> TopicContext?
    /// Whether any node has a subscriber of the topic, or the cluster a context for it (C36 across nodes).
    func topicExists(_ topic: String) async -> Bool
    /// A subscription another node answered, for a socket that connects here.
    func subscription(_ id: SubscriptionID) async -> Subscription?
    /// Webhook subscriptions whose node stopped, which this node now delivers to (each webhook by one node), each with
    /// the events its old node may not have delivered.
    func takenOver() -> AsyncStream<WebhookHandover>
    /// A SyncError this node's hub made about one of its subscribers, for the other nodes' `syncerror` subscribers.
    func shareSyncError(_ notification: EventNotification) async
    /// The SyncErrors the other nodes made, until the fan-out ends.
    func syncErrors() -> AsyncStream<EventNotification>
    /// Tells the node that holds a WebSocket subscription's socket that it was unsubscribed here.
    func shareUnsubscribe(_ id: SubscriptionID) async throws
    /// The subscriptions other nodes were asked to end, until the fan-out ends.
    func unsubscribes() -> AsyncStream<SubscriptionID>
}

extension TopicFanOut {
    package var sharesThroughStore: Bool { false }
    package func missed(topic: String, after: Int64) async throws -> [SharedEvent]? { nil }
    package func storedContext(topic: String) async throws -> TopicContext? { nil }
    package func topicExists(_ topic: String) async -> Bool { false }
    package func subscription(_ id: SubscriptionID) async -> Subscription? { nil }
    package func takenOver() -> AsyncStream<WebhookHandover> { AsyncStream { $0.finish() } }
    package func shareSyncError(_ notification: EventNotification) async {}
    package func syncErrors() -> AsyncStream<EventNotification> { AsyncStream { $0.finish() } }
    package func shareUnsubscribe(_ id: SubscriptionID) async throws {}
    package func unsubscribes() -> AsyncStream<SubscriptionID> { AsyncStream { $0.finish() } }
}

/// A webhook subscription taken over from a node that stopped, and the events of its topic written since that node's
/// last word, in order.
package struct WebhookHandover: Sendable {
    package var subscription: Subscription
    package var missed: [EventNotification]

    package init(subscription: Subscription, missed: [EventNotification]) {
        self.subscription = subscription
        self.missed = missed
    }
}

/// One node: nothing to share, nothing to receive, and it always leads.
package struct SingleNode: TopicFanOut, Leadership {
    package init() {}
    package var spansNodes: Bool { false }
    package func share(_ event: SharedEvent) {}
    package func received() -> AsyncStream<SharedEvent> { AsyncStream { $0.finish() } }
    package func whileLeading(_ role: LeadershipRole, _ lead: @escaping @Sendable () async -> Void) async { await lead() }
}
