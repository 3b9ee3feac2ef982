import AccessCore
import FHIRcastCore
import Foundation
import NIOCore
import ServiceSupport

/// What the FHIRcast service is told: its hub's rules, timers, webhook delivery, socket limits and address. The
/// application makes it from `castbridge serve`'s options (`ServerConfiguration`, which holds the defaults).
package struct FHIRcastServiceConfiguration: Sendable {
    package var hub: HubConfiguration
    /// How often leases, ACK deadlines and idle topics are checked.
    package var tickIntervalSeconds: Double
    /// In a cluster, how long an event waits for an earlier one of its topic to come by its notice before that one is
    /// read from the store.
    package var clusterGapWaitSeconds: Double = 1
    /// How long shutdown waits for webhook deliveries and socket closes.
    package var shutdownGraceSeconds: Double
    package var webhookTimeoutSeconds: Double
    package var webhookAttempts: Int
    package var webhookBackoffSeconds: Double
    /// Socket and body limits, pings, the address.
    package var edge: EdgeSettings
    /// Where webhook callbacks may point (Docs/security.md).
    package var callbackPolicy = CallbackAddressPolicy()

    package init(
        hub: HubConfiguration, tickIntervalSeconds: Double, shutdownGraceSeconds: Double, webhookTimeoutSeconds: Double,
        webhookAttempts: Int, webhookBackoffSeconds: Double, edge: EdgeSettings
    ) {
        self.hub = hub
        self.tickIntervalSeconds = tickIntervalSeconds
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.webhookTimeoutSeconds = webhookTimeoutSeconds
        self.webhookAttempts = webhookAttempts
        self.webhookBackoffSeconds = webhookBackoffSeconds
        self.edge = edge
    }
}
