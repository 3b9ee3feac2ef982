import AccessCore

/// Decides whether a request is allowed. The decision itself is pure (`AccessRules` over a token's claims); getting
/// the claims (a signature checked with keys fetched over HTTP, for OpenID Connect) is the implementation's edge.
package protocol AccessPolicy: Sendable {
    func decide(_ request: AccessRequest) async -> AccessDecision
}

/// Every request is allowed as asked: `--auth off`.
package struct OpenAccess: AccessPolicy {
    package init() {}
    package func decide(_ request: AccessRequest) async -> AccessDecision { .allow(.unrestricted) }
}
