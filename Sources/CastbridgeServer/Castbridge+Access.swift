import AccessControl
import AccessCore
import AsyncHTTPClient
import Logging
import ServiceSupport

extension Castbridge {
    /// The access policy of `--auth`, and with tokens on, the token checker the authentication middleware shares
    /// with it (one cache of verified tokens).
    static func accessPolicy(for config: ServerConfiguration, logger: Logger, audit: any AuditSink) -> (any AccessPolicy, TokenAccess?) {
        let rules = AccessRules(adminRole: config.adminRole, anyTopicRole: config.anyTopicRole)
        let tokens: TokenAccess
        switch config.auth {
        case .off:
            return (OpenAccess(), nil)
        case .mock:
            tokens = TokenAccess(
                verifier: SharedSecretVerifier(secret: config.castJWTSecret), checks: TokenChecks(issuer: "cast-hub"), rules: rules,
                audit: audit)
        case .oidc:
            let issuer = config.oidcIssuer ?? ""
            let verifier = OIDCVerifier(
                issuer: issuer, discovery: config.oidcDiscoveryURL, http: .shared, refetchInterval: .milliseconds(Int64(config.oidcRefetchSeconds * 1000)), logger: logger)
            tokens = TokenAccess(
                verifier: verifier, checks: TokenChecks(issuer: verifier.issuer, audience: config.oidcAudience), rules: rules, audit: audit)
        }
        return (tokens, tokens)
    }
}
