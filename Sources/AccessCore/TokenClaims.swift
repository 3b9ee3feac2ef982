import Foundation

/// What castbridge reads from a verified token, whatever issued it (its own development server or an OpenID Connect
/// provider), in one shape.
public struct TokenClaims: Sendable, Equatable {
    public var issuer: String?
    public var audiences: [String]
    public var expiresAt: Date?
    public var notBefore: Date?
    /// Who: `user_name`, `preferred_username`, then `sub` (the reference Cast hub's order), or the client.
    public var subject: String?
    /// The topics the token is for: SMART's `hub.topic` (FHIRcast apps), `topic` or `cast_topic` (Cast apps).
    public var topics: [String]
    /// `scope` (space-separated) or `scp` (array).
    public var scopes: Set<String>
    /// `roles`, Keycloak's `realm_access.roles`, and each client's `resource_access.*.roles`.
    public var roles: Set<String>

    public init(
        issuer: String? = nil, audiences: [String] = [], expiresAt: Date? = nil, notBefore: Date? = nil, subject: String? = nil,
        topics: [String] = [], scopes: Set<String> = [], roles: Set<String> = []
    ) {
        self.issuer = issuer
        self.audiences = audiences
        self.expiresAt = expiresAt
        self.notBefore = notBefore
        self.subject = subject
        self.topics = topics
        self.scopes = scopes
        self.roles = roles
    }

    /// Whether the token carries a role, as a role or as a scope of that name (a client credentials grant that
    /// asks for it as a scope).
    public func has(role: String) -> Bool { roles.contains(role) || scopes.contains(role) }
}
