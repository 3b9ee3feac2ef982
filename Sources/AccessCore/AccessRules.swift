/// Who may do what, from a verified token's claims (Docs/security.md). Pure: no keys, no clocks beyond the claims.
///
/// - **Topics.** A token names the topics it may use (`hub.topic`, `topic` or `cast_topic`); another topic is a 403.
///   A token that names none may use any topic only with the any-topic role (service providers and the bridge,
///   which work for every user). Cast's `*` (every user's topic) needs that role too.
/// - **SMART FHIRcast scopes**, on FHIRcast requests: a subscription is granted the events asked for that the
///   token may read (none left: 403); a publish needs write for its event; reading the current context needs a read
///   scope. `SyncError` is allowed to any token with a FHIRcast scope: it carries the session's failures, no patient.
/// - **Administration** needs the admin role.
public struct AccessRules: Sendable {
    public var adminRole: String
    public var anyTopicRole: String

    public init(adminRole: String = "castbridge-admin", anyTopicRole: String = "castbridge-any-topic") {
        self.adminRole = adminRole
        self.anyTopicRole = anyTopicRole
    }

    public func decide(_ request: AccessRequest, claims: TokenClaims) -> AccessDecision {
        var grant = AccessGrant(expiresAt: claims.expiresAt, subject: claims.subject)
        if request.action == .admin {
            guard claims.has(role: adminRole) else { return .forbidden("this needs the '\(adminRole)' role, which the token does not carry") }
            return .allow(grant)
        }
        if let topic = request.topic, let refusal = topicRefusal(topic, claims: claims) { return .forbidden(refusal) }
        guard request.side == .fhircast else { return .allow(grant) }

        let scopes = FHIRcastScopes(claims.scopes)
        switch request.action {
        case .subscribe:
            let granted = request.events.filter { allows(scopes, .read, $0) }
            guard !granted.isEmpty else {
                return .forbidden(
                    "the token's scopes grant reading none of \(request.events.joined(separator: ",")) (it needs fhircast/<event>.read)")
            }
            grant.events = granted
        case .publish:
            for event in request.events where !allows(scopes, .write, event) {
                return .forbidden("the token's scopes do not grant publishing \(event) (it needs fhircast/\(event).write)")
            }
        case .readContext:
            guard scopes.readsAnything else { return .forbidden("reading the current context needs a fhircast/<event>.read scope") }
        case .unsubscribe, .request, .admin:
            break
        }
        return .allow(grant)
    }

    private func allows(_ scopes: FHIRcastScopes, _ access: FHIRcastScopes.Access, _ event: String) -> Bool {
        if event.lowercased() == "syncerror" { return scopes.readsAnything || scopes.allows(.write, event) }
        return scopes.allows(access, event)
    }

    /// Why a token may not use a topic, or nil when it may.
    private func topicRefusal(_ topic: String, claims: TokenClaims) -> String? {
        if claims.has(role: anyTopicRole) { return nil }
        if topic == "*" { return "'*' (every user's topic) needs the '\(anyTopicRole)' role" }
        if claims.topics.isEmpty {
            return "the token names no topic (hub.topic, topic or cast_topic) and does not carry the '\(anyTopicRole)' role"
        }
        guard claims.topics.contains(topic) else { return "the token is for topic '\(claims.topics.joined(separator: "', '"))', not '\(topic)'" }
        return nil
    }
}
