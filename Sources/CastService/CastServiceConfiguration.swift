import CastCore
import NIOCore
import ServiceSupport

/// What the embedded Cast hub is told. The application makes it from `castbridge serve`'s options
/// (`ServerConfiguration`, which holds the defaults).
package struct CastServiceConfiguration: AdvertisedAddress {
    package var castEventMatching: CastEventMatching
    package var castMockOAuth: Bool
    package var castPayloadChunkBytes: Int
    package var castPayloadTTLSeconds: Double
    package var castPayloadMaxTotalBytes: Int
    package var castGetTimeoutSeconds: Double
    package var castRequireAuth: Bool
    package var castSingleUser: Bool
    package var castJWTSecret: String
    /// Frames held for one socket before it is dropped as too slow.
    package var sendBufferMessages: Int
    /// Socket pings; nil when off.
    package var pingInterval: TimeAmount?
    package var maxBodyBytes: Int
    package var publicURL: String?
    package var host: String
    package var port: Int

    package init(
        castEventMatching: CastEventMatching, castMockOAuth: Bool, castPayloadChunkBytes: Int, castPayloadTTLSeconds: Double,
        castPayloadMaxTotalBytes: Int, castGetTimeoutSeconds: Double, castRequireAuth: Bool, castSingleUser: Bool, castJWTSecret: String,
        sendBufferMessages: Int, pingInterval: TimeAmount?, maxBodyBytes: Int, publicURL: String?, host: String, port: Int
    ) {
        self.castEventMatching = castEventMatching
        self.castMockOAuth = castMockOAuth
        self.castPayloadChunkBytes = castPayloadChunkBytes
        self.castPayloadTTLSeconds = castPayloadTTLSeconds
        self.castPayloadMaxTotalBytes = castPayloadMaxTotalBytes
        self.castGetTimeoutSeconds = castGetTimeoutSeconds
        self.castRequireAuth = castRequireAuth
        self.castSingleUser = castSingleUser
        self.castJWTSecret = castJWTSecret
        self.sendBufferMessages = sendBufferMessages
        self.pingInterval = pingInterval
        self.maxBodyBytes = maxBodyBytes
        self.publicURL = publicURL
        self.host = host
        self.port = port
    }
}
