import NIOCore

/// The options every service's edge takes alike: how far its sockets and request bodies may grow, its pings, and
/// where it is reached.
package struct EdgeSettings: AdvertisedAddress {
    /// Frames (or webhook events) held for one subscriber before it is dropped as too slow.
    package var sendBufferMessages: Int
    /// Socket pings; nil when off.
    package var pingInterval: TimeAmount?
    package var maxBodyBytes: Int
    package var publicURL: String?
    package var host: String
    package var port: Int
    /// Whether castbridge serves TLS itself: its URLs are then `https://` and `wss://`.
    package var secure = false
    /// Where the services record what happens (`/metrics`); nothing by default.
    package var telemetry = Telemetry.disabled

    package init(sendBufferMessages: Int, pingInterval: TimeAmount?, maxBodyBytes: Int, publicURL: String?, host: String, port: Int) {
        self.sendBufferMessages = sendBufferMessages
        self.pingInterval = pingInterval
        self.maxBodyBytes = maxBodyBytes
        self.publicURL = publicURL
        self.host = host
        self.port = port
    }
}
