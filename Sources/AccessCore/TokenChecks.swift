import Foundation

/// The checks every verified token's claims pass, whoever signed it: lifetime (with a small skew for clocks that
/// differ), issuer and audience. Signature checks are the verifier's; these are pure.
public struct TokenChecks: Sendable {
    /// The issuer the token must name (nil: not checked, as for a token whose signature only this server can make).
    public var issuer: String?
    /// An audience the token must name, when set.
    public var audience: String?
    /// How far clocks may differ, in seconds.
    public var skewSeconds: Double

    public init(issuer: String? = nil, audience: String? = nil, skewSeconds: Double = 30) {
        self.issuer = issuer
        self.audience = audience
        self.skewSeconds = skewSeconds
    }

    /// Nil when the claims pass; else the reason for a 401.
    public func problem(with claims: TokenClaims, now: Date) -> String? {
        guard let expiresAt = claims.expiresAt else { return "the token has no expiry ('exp')" }
        if expiresAt.addingTimeInterval(skewSeconds) <= now { return "the token has expired" }
        if let notBefore = claims.notBefore, notBefore.addingTimeInterval(-skewSeconds) > now {
            return "the token is not valid yet ('nbf' is in the future)"
        }
        if let issuer, claims.issuer != issuer {
            return "the token was issued by '\(claims.issuer ?? "nobody")', not by '\(issuer)'"
        }
        if let audience, !claims.audiences.contains(audience) {
            return "the token is not for audience '\(audience)'"
        }
        return nil
    }
}
