import ServiceSupport

/// What the bridge is told. The application makes it from `castbridge serve`'s options (`ServerConfiguration`, which
/// holds the defaults); the upstream itself comes ready-made (`CastUpstream`).
package struct BridgeServiceConfiguration: Sendable {
    /// How long an event may wait for the Cast hub before its publisher gets a SyncError.
    package var bridgeQueueMaxWaitSeconds: Double
    package var bridgeReconnectBaseSeconds: Double
    package var bridgeReconnectMaxSeconds: Double
    /// How long a Cast file stays downloadable when its event does not say.
    package var castPayloadTTLSeconds: Double
    package var maxBodyBytes: Int
    /// Where castbridge serves files to FHIRcast subscribers: the public URL, else the bound host.
    package var publicURL: String?
    package var host: String
    /// Where the bridge records its reconnects (`/metrics`).
    package var telemetry = Telemetry.disabled

    package init(
        bridgeQueueMaxWaitSeconds: Double, bridgeReconnectBaseSeconds: Double, bridgeReconnectMaxSeconds: Double,
        castPayloadTTLSeconds: Double, maxBodyBytes: Int, publicURL: String?, host: String
    ) {
        self.bridgeQueueMaxWaitSeconds = bridgeQueueMaxWaitSeconds
        self.bridgeReconnectBaseSeconds = bridgeReconnectBaseSeconds
        self.bridgeReconnectMaxSeconds = bridgeReconnectMaxSeconds
        self.castPayloadTTLSeconds = castPayloadTTLSeconds
        self.maxBodyBytes = maxBodyBytes
        self.publicURL = publicURL
        self.host = host
    }
}
