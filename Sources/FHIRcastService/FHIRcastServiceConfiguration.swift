import FHIRcastCore
import Foundation
import NIOCore
import ServiceSupport

/// What the FHIRcast service is told: its hub's rules, timers, webhook delivery, socket limits and address. The
/// application makes it from `castbridge serve`'s options (`ServerConfiguration`, which holds the defaults).
package struct FHIRcastServiceConfiguration: AdvertisedAddress {
    package var hub: HubConfiguration
    /// How often leases, ACK deadlines and idle topics are checked.
    package var tickIntervalSeconds: Double
    /// How long shutdown waits for webhook deliveries and socket closes.
    package var shutdownGraceSeconds: Double
    package var webhookTimeoutSeconds: Double
    package var webhookAttempts: Int
    package var webhookBackoffSeconds: Double
    /// Frames (or webhook events) held for one subscriber before it is dropped as too slow.
    package var sendBufferMessages: Int
    /// Socket pings; nil when off.
    package var pingInterval: TimeAmount?
    package var maxBodyBytes: Int
    package var publicURL: String?
    package var host: String
    package var port: Int

    package init(
        hub: HubConfiguration, tickIntervalSeconds: Double, shutdownGraceSeconds: Double, webhookTimeoutSeconds: Double,
        webhookAttempts: Int, webhookBackoffSeconds: Double, sendBufferMessages: Int, pingInterval: TimeAmount?, maxBodyBytes: Int,
        publicURL: String?, host: String, port: Int
    ) {
        self.hub = hub
        self.tickIntervalSeconds = tickIntervalSeconds
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.webhookTimeoutSeconds = webhookTimeoutSeconds
        self.webhookAttempts = webhookAttempts
        self.webhookBackoffSeconds = webhookBackoffSeconds
        self.sendBufferMessages = sendBufferMessages
        self.pingInterval = pingInterval
        self.maxBodyBytes = maxBodyBytes
        self.publicURL = publicURL
        self.host = host
        self.port = port
    }
}
