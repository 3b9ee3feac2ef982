import AccessCore
import BridgeService
import CastService
import FHIRcastService
import NIOCore
import ServiceSupport

/// The options narrowed into what each service is told.
extension ServerConfiguration {
    /// `pingIntervalSeconds` for the sockets; nil when pings are off.
    var pingInterval: TimeAmount? {
        pingIntervalSeconds > 0 ? .nanoseconds(Int64(pingIntervalSeconds * 1e9)) : nil
    }

    /// What every service's edge takes alike.
    package var edge: EdgeSettings {
        var edge = EdgeSettings(
            sendBufferMessages: sendBufferMessages, pingInterval: pingInterval, maxBodyBytes: maxBodyBytes, publicURL: publicURL,
            host: host, port: port)
        edge.secure = tlsCertificatePath != nil
        return edge
    }

    /// The FHIRcast service's part, recording into `telemetry`.
    package func fhircastService(_ telemetry: Telemetry = .disabled) -> FHIRcastServiceConfiguration {
        var edge = self.edge
        edge.telemetry = telemetry
        var service = FHIRcastServiceConfiguration(
            hub: hub, tickIntervalSeconds: tickIntervalSeconds, shutdownGraceSeconds: shutdownGraceSeconds,
            webhookTimeoutSeconds: webhookTimeoutSeconds, webhookAttempts: webhookAttempts, webhookBackoffSeconds: webhookBackoffSeconds,
            edge: edge)
        // Loopback callbacks by default only while castbridge itself is on loopback (a developer's machine).
        service.callbackPolicy = CallbackAddressPolicy(allowed: webhookAllow, allowsLoopback: Self.isLoopback(host))
        return service
    }

    /// The embedded Cast hub's part, recording into `telemetry`.
    package func castService(_ telemetry: Telemetry = .disabled) -> CastServiceConfiguration {
        var edge = self.edge
        edge.telemetry = telemetry
        var service = CastServiceConfiguration(
            castEventMatching: castEventMatching, castMockOAuth: castMockOAuth, castPayloadChunkBytes: castPayloadChunkBytes,
            castPayloadTTLSeconds: castPayloadTTLSeconds, castPayloadMaxTotalBytes: castPayloadMaxTotalBytes,
            castGetTimeoutSeconds: castGetTimeoutSeconds, castRequireAuth: castRequireAuth, castSingleUser: castSingleUser,
            castJWTSecret: castJWTSecret, edge: edge)
        service.callbackPolicy = CallbackAddressPolicy(allowed: webhookAllow, allowsLoopback: Self.isLoopback(host))
        return service
    }

    /// The bridge's part, recording into `telemetry`.
    package func bridgeService(_ telemetry: Telemetry = .disabled) -> BridgeServiceConfiguration {
        var service = BridgeServiceConfiguration(
            bridgeQueueMaxWaitSeconds: bridgeQueueMaxWaitSeconds, bridgeReconnectBaseSeconds: bridgeReconnectBaseSeconds,
            bridgeReconnectMaxSeconds: bridgeReconnectMaxSeconds, castPayloadTTLSeconds: castPayloadTTLSeconds, maxBodyBytes: maxBodyBytes,
            publicURL: publicURL, host: host)
        service.telemetry = telemetry
        return service
    }
}
