import AccessCore

/// Checks a bearer token's signature and reads its claims. Nothing else: lifetime, issuer and audience are
/// `TokenChecks`, what the token allows is `AccessRules`.
package protocol TokenVerifier: Sendable {
    /// The token's claims, or the reason it does not verify (for a 401).
    func verify(_ token: String) async -> Result<TokenClaims, TokenRefusal>
}

package struct TokenRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    package var description: String
    /// 401, or 503 when the keys to check it with cannot be had (the provider is unreachable).
    package var status: Int
    package init(_ description: String, status: Int = 401) {
        self.description = description
        self.status = status
    }
}
