import AccessCore
import Foundation
import ServiceSupport

/// The access policy when tokens are on (`--auth mock|oidc`): the bearer token is verified (signature by the
/// verifier, then lifetime, issuer and audience by `TokenChecks`), and `AccessRules` decide what its claims allow.
/// Verified tokens are remembered until they expire, so a client's calls cost one signature check, not one each.
package actor TokenAccess: AccessPolicy {
    private let verifier: any TokenVerifier
    private let checks: TokenChecks
    private let rules: AccessRules
    private var remembered: [String: TokenClaims] = [:]
    private let capacity = 4096
    /// Where every refusal is recorded (who, when known; the topic, the events, the reason).
    package nonisolated let audit: any AuditSink

    package init(verifier: any TokenVerifier, checks: TokenChecks, rules: AccessRules, audit: any AuditSink = NoAudit()) {
        self.verifier = verifier
        self.checks = checks
        self.rules = rules
        self.audit = audit
    }

    package func decide(_ request: AccessRequest) async -> AccessDecision {
        let decision: AccessDecision
        var subject: String?
        switch await authenticate(request.authorization) {
        case .success(let claims):
            subject = claims.subject
            decision = rules.decide(request, claims: claims)
        case .failure(let refusal):
            decision = .deny(status: refusal.status, reason: refusal.description)
        }
        if case .deny(let status, let reason) = decision {
            audit.record(
                AuditRecord(
                    action: request.action.auditName, side: request.side, status: status, subject: subject, topic: request.topic,
                    events: request.events, reason: reason))
        }
        return decision
    }

    /// Who presents the `Authorization` header: the claims of its token when it verifies and passes the checks.
    package func authenticate(_ authorization: String?) async -> Result<TokenClaims, TokenRefusal> {
        let token: String
        switch BearerHeader.token(authorization) {
        case .success(let t): token = t
        case .failure(let problem): return .failure(TokenRefusal(problem.description))
        }
        let now = Date()
        if let claims = remembered[token] {
            if let problem = checks.problem(with: claims, now: now) {
                remembered.removeValue(forKey: token)
                return .failure(TokenRefusal(problem))
            }
            return .success(claims)
        }
        switch await verifier.verify(token) {
        case .failure(let refusal):
            return .failure(refusal)
        case .success(let claims):
            if let problem = checks.problem(with: claims, now: now) { return .failure(TokenRefusal(problem)) }
            if remembered.count >= capacity {
                remembered = remembered.filter { checks.problem(with: $0.value, now: now) == nil }
                if remembered.count >= capacity { remembered.removeAll(keepingCapacity: true) }
            }
            remembered[token] = claims
            return .success(claims)
        }
    }
}
