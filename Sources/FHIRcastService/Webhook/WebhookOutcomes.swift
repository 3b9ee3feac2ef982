import FHIRcastCore

/// What a webhook worker reports about the events it could not deliver: the hub that owns its subscription.
package protocol WebhookOutcomes: Actor {
    /// The subscriber answered with a 4xx: the event was refused (a SyncError to its publisher, C33).
    func webhookRefused(_ id: SubscriptionID, event: OutboundEvent, status: Int) async
    /// Every attempt failed: the subscriber is unresponsive and is dropped.
    func webhookUnresponsive(_ id: SubscriptionID, event: OutboundEvent, reason: String) async
}
