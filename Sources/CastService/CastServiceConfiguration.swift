import AccessCore
import CastCore
import NIOCore
import ServiceSupport

/// What the embedded Cast hub is told. The application makes it from `castbridge serve`'s options
/// (`ServerConfiguration`, which holds the defaults).
package struct CastServiceConfiguration: Sendable {
    package var castEventMatching: CastEventMatching
    package var castMockOAuth: Bool
    package var castPayloadChunkBytes: Int
    package var castPayloadTTLSeconds: Double
    package var castPayloadMaxTotalBytes: Int
    package var castGetTimeoutSeconds: Double
    package var castRequireAuth: Bool
    package var castSingleUser: Bool
    package var castJWTSecret: String
    /// Socket and body limits, pings, the address.
    package var edge: EdgeSettings
    /// Where WebSub callbacks may point (the FHIRcast webhooks' rules, Docs/security.md).
    package var callbackPolicy = CallbackAddressPolicy()

    package init(
        castEventMatching: CastEventMatching, castMockOAuth: Bool, castPayloadChunkBytes: Int, castPayloadTTLSeconds: Double,
        castPayloadMaxTotalBytes: Int, castGetTimeoutSeconds: Double, castRequireAuth: Bool, castSingleUser: Bool, castJWTSecret: String,
        edge: EdgeSettings
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
        self.edge = edge
    }
}
