import ServiceSupport
import CastCore
import FHIRcastCore
import Foundation
import JWTKit

/// The claims of the mock hub's HS256 tokens (cast-protocol.md §6.1).
package struct CastTokenClaims: JWTPayload {
    package var iss: IssuerClaim
    package var aud: AudienceClaim
    package var iat: IssuedAtClaim
    package var nbf: NotBeforeClaim
    package var exp: ExpirationClaim
    package var jti: IDClaim
    package var typ: String
    package var token_counter: Int
    package var topic: String
    package var user_name: String
    package var scope: String

    /// Signature only: `/oauth/authorize` accepts expired id_tokens; bearer checks test `exp` themselves.
    package func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Issues and checks the mock hub's tokens.
package struct CastTokens: Sendable {
    package let keys: JWTKeyCollection
    package static let lifetime: TimeInterval = 3600

    package init(secret: String) async {
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    package func issue(_ identity: MockOAuthState.Identity, type: String, scope: String = "openid", now: Date) async throws -> String {
        let claims = CastTokenClaims(
            iss: "cast-hub", aud: "cast-clients", iat: .init(value: now), nbf: .init(value: now),
            exp: .init(value: now.addingTimeInterval(Self.lifetime)), jti: .init(value: UUID().uuidString.lowercased()),
            typ: type, token_counter: identity.count, topic: identity.topic, user_name: identity.userName, scope: scope)
        return try await keys.sign(claims)
    }

    /// The claims of a token signed by this hub, expired or not; nil when the signature or format is bad.
    package func claims(of token: String) async -> CastTokenClaims? {
        try? await keys.verify(token, as: CastTokenClaims.self)
    }
}
