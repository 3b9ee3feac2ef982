import AccessCore
import Foundation
import Testing

@Suite("Access rules: SMART FHIRcast scopes, topic ownership, roles")
struct AccessRulesTests {
    let rules = AccessRules()

    func claims(topics: [String] = ["T1"], scopes: Set<String> = [], roles: Set<String> = []) -> TokenClaims {
        TokenClaims(expiresAt: Date(timeIntervalSince1970: 2_000_000_000), subject: "dr-who", topics: topics, scopes: scopes, roles: roles)
    }

    func decide(_ action: AccessRequest.Action, side: AccessRequest.Side = .fhircast, topic: String? = "T1", events: [String] = [], _ claims: TokenClaims) -> AccessDecision {
        rules.decide(AccessRequest(action, side: side, topic: topic, events: events, authorization: "Bearer x"), claims: claims)
    }

    @Test("Scopes: fhircast/<event|*>.<read|write|*>, event names without case; other shapes ignored")
    func scopes() {
        let s = FHIRcastScopes(["fhircast/Patient-open.read", "fhircast/*.write", "openid", "patient/*.read", "fhircast/.read", "fhircast/x.rs"])
        #expect(s.allows(.read, "patient-open"))
        #expect(s.allows(.read, "PATIENT-OPEN"))
        #expect(!s.allows(.read, "Encounter-open"))
        #expect(s.allows(.write, "Encounter-open"))
        #expect(s.readsAnything)
        let all = FHIRcastScopes(["fhircast/*.*"])
        #expect(all.allows(.read, "DiagnosticReport-update") && all.allows(.write, "anything"))
        #expect(!FHIRcastScopes(["openid", "fhircast/x.rs"]).readsAnything)
    }

    @Test("C7 (a): a token that may read only Patient-open subscribing to Patient-open and Encounter-open is granted Patient-open alone")
    func subscribeNarrowed() {
        let decision = decide(.subscribe, events: ["Patient-open", "Encounter-open"], claims(scopes: ["fhircast/Patient-open.read"]))
        guard case .allow(let grant) = decision else { Issue.record("denied: \(decision)"); return }
        #expect(grant.events == ["Patient-open"])
        #expect(grant.expiresAt == Date(timeIntervalSince1970: 2_000_000_000))
        #expect(grant.subject == "dr-who")
    }

    @Test("C7: a subscription left with no event it may read is refused with 403")
    func subscribeNothing() {
        let decision = decide(.subscribe, events: ["Encounter-open"], claims(scopes: ["fhircast/Patient-open.read"]))
        guard case .deny(403, let reason) = decision else { Issue.record("\(decision)"); return }
        #expect(reason.contains("Encounter-open"))
    }

    @Test("C7 (b): publishing needs write for the event; read is not enough")
    func publishNeedsWrite() {
        #expect(decide(.publish, events: ["Patient-open"], claims(scopes: ["fhircast/Patient-open.read"])) != .allow(AccessGrant(expiresAt: Date(timeIntervalSince1970: 2_000_000_000), subject: "dr-who")))
        guard case .deny(403, _) = decide(.publish, events: ["Patient-open"], claims(scopes: ["fhircast/Patient-open.read"])) else {
            Issue.record("allowed")
            return
        }
        guard case .allow = decide(.publish, events: ["Patient-open"], claims(scopes: ["fhircast/patient-open.write"])) else {
            Issue.record("denied")
            return
        }
    }

    @Test("SyncError is allowed to any token that reads something; the current context needs a read scope")
    func syncErrorAndContext() {
        guard case .allow(let grant) = decide(.subscribe, events: ["Patient-open", "SyncError"], claims(scopes: ["fhircast/Patient-open.read"])) else {
            Issue.record("denied")
            return
        }
        #expect(grant.events == ["Patient-open", "SyncError"])
        guard case .deny(403, _) = decide(.readContext, claims(scopes: ["fhircast/Patient-open.write"])) else { Issue.record("allowed"); return }
        guard case .allow = decide(.readContext, claims(scopes: ["fhircast/Patient-open.read"])) else { Issue.record("denied"); return }
    }

    @Test("Topic ownership: another topic is 403 on both sides; a token without a topic needs the any-topic role; '*' needs it too")
    func topics() {
        let reader = claims(scopes: ["fhircast/*.*"])
        guard case .deny(403, let reason) = decide(.subscribe, topic: "T2", events: ["Patient-open"], reader) else { Issue.record("allowed"); return }
        #expect(reason.contains("T1") && reason.contains("T2"))
        guard case .deny(403, _) = decide(.publish, side: .cast, topic: "T2", events: ["patient-open"], reader) else { Issue.record("allowed"); return }
        guard case .allow = decide(.publish, side: .cast, topic: "T1", events: ["patient-open"], reader) else { Issue.record("denied"); return }
        guard case .deny(403, let none) = decide(.subscribe, side: .cast, topic: "T1", claims(topics: [])) else { Issue.record("allowed"); return }
        #expect(none.contains("names no topic"))
        guard case .deny(403, _) = decide(.subscribe, side: .cast, topic: "*", reader) else { Issue.record("allowed"); return }
        let provider = claims(topics: [], roles: ["castbridge-any-topic"])
        guard case .allow = decide(.subscribe, side: .cast, topic: "*", provider) else { Issue.record("denied"); return }
        guard case .allow = decide(.publish, side: .cast, topic: "USER-7", provider) else { Issue.record("denied"); return }
        // The role may come as a scope of the same name (a client credentials grant asking for it).
        guard case .allow = decide(.subscribe, side: .cast, topic: "*", claims(topics: [], scopes: ["castbridge-any-topic"])) else {
            Issue.record("denied")
            return
        }
    }

    @Test("Cast requests are not held to FHIRcast scopes; administration needs the admin role")
    func castAndAdmin() {
        guard case .allow = decide(.subscribe, side: .cast, events: ["imagingstudy-open"], claims()) else { Issue.record("denied"); return }
        guard case .deny(403, let reason) = decide(.admin, topic: nil, claims(roles: ["castbridge-any-topic"])) else { Issue.record("allowed"); return }
        #expect(reason.contains("castbridge-admin"))
        guard case .allow = decide(.admin, topic: nil, claims(topics: [], roles: ["castbridge-admin"])) else { Issue.record("denied"); return }
        let custom = AccessRules(adminRole: "ops", anyTopicRole: "provider")
        #expect(custom.decide(AccessRequest(.admin, topic: nil, authorization: nil), claims: claims(roles: ["ops"])) == .allow(AccessGrant(expiresAt: Date(timeIntervalSince1970: 2_000_000_000), subject: "dr-who")))
    }
}

@Suite("Token checks and the bearer header")
struct TokenChecksTests {
    let now = Date(timeIntervalSince1970: 1_900_000_000)

    func claims(exp: Double? = 600, nbf: Double? = nil, iss: String? = "https://idp.example", aud: [String] = ["castbridge"]) -> TokenClaims {
        TokenClaims(
            issuer: iss, audiences: aud, expiresAt: exp.map { now.addingTimeInterval($0) }, notBefore: nbf.map { now.addingTimeInterval($0) })
    }

    @Test("exp and nbf with a small skew; a token without exp is refused")
    func lifetime() {
        let checks = TokenChecks(skewSeconds: 30)
        #expect(checks.problem(with: claims(), now: now) == nil)
        #expect(checks.problem(with: claims(exp: -10), now: now) == nil)
        #expect(checks.problem(with: claims(exp: -31), now: now) == "the token has expired")
        #expect(checks.problem(with: claims(exp: nil), now: now)?.contains("no expiry") == true)
        #expect(checks.problem(with: claims(nbf: 20), now: now) == nil)
        #expect(checks.problem(with: claims(nbf: 31), now: now)?.contains("not valid yet") == true)
    }

    @Test("Issuer and audience, when configured")
    func issuerAudience() {
        let checks = TokenChecks(issuer: "https://idp.example", audience: "castbridge")
        #expect(checks.problem(with: claims(), now: now) == nil)
        #expect(checks.problem(with: claims(iss: "https://evil.example"), now: now)?.contains("evil") == true)
        #expect(checks.problem(with: claims(aud: ["other"]), now: now)?.contains("audience") == true)
        #expect(TokenChecks().problem(with: claims(iss: nil, aud: []), now: now) == nil)
    }

    @Test("Bearer header: missing, another scheme, empty, and the token")
    func bearer() {
        #expect(BearerHeader.token(nil) == .failure(.missing))
        #expect(BearerHeader.token("Basic abc") == .failure(.notBearer))
        #expect(BearerHeader.token("Bearer   ") == .failure(.empty))
        #expect(BearerHeader.token("bearer abc.def") == .success("abc.def"))
    }
}
