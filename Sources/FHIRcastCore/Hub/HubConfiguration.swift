/// Limits and timers of the hub. Every timer is configurable so that tests run fast.
public struct HubConfiguration: Sendable {
    /// Longest lease granted; longer requests are cut to this (C20).
    public var maxLeaseSeconds: Int = 7200
    /// Lease granted when none is requested.
    public var defaultLeaseSeconds: Int = 7200
    /// How long a subscriber has to ACK an event before the hub sends a SyncError and drops it (C33); 0 disables.
    public var ackTimeoutSeconds: Double = 10
    /// How long a websocket subscription may wait for its socket to connect before it is forgotten.
    public var connectTimeoutSeconds: Double = 60
    /// How long a topic with no subscribers keeps its context before it is forgotten.
    public var topicIdleSeconds: Double = 86_400
    /// Caps that keep memory bounded whatever clients do.
    public var maxSubscriptions: Int = 100_000
    public var maxTopics: Int = 100_000
    /// Subscriptions one topic may hold, and one owner (a token's subject) may hold; beyond, 429.
    public var maxSubscriptionsPerTopic: Int = 1_000
    public var maxSubscriptionsPerOwner: Int = 100
    /// Open (unclosed) contexts kept per topic; the oldest non-current one is forgotten beyond this.
    public var maxOpenContextsPerTopic: Int = 64
    /// Content-sharing updates to an anchor that is open but not current (C50). Off: they get a 400.
    public var supportsNonCurrentContextUpdates: Bool = false
    /// The events the hub takes and lists in discovery (C5).
    public var events = EventPolicy()

    public init() {}

    /// The lease granted for a request: the requested lease capped at the maximum, or the default.
    public func grantedLease(requested: Int?) -> Int {
        min(requested ?? defaultLeaseSeconds, maxLeaseSeconds)
    }
}
