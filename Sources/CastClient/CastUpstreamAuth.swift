import Foundation

/// Credentials for an external Cast hub (cast-protocol.md §6).
public enum CastUpstreamAuth: Sendable, Hashable {
    /// No token (the reference hub's default: auth not enforced).
    case none
    /// A fixed bearer token.
    case bearer(String)
    /// The generation C/D mock OAuth code flow: `/oauth/authorize` then `/oauth/token`.
    case mockOAuth(user: String?)
    /// `grant_type=client_credentials` at a token endpoint: a real OIDC provider (Keycloak's
    /// `/realms/<realm>/protocol/openid-connect/token`) or a generation B hub's `/oauth/token`.
    case clientCredentials(tokenURL: String, clientID: String, clientSecret: String)
}
