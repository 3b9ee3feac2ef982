import AccessCore
import CastClient
import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOHTTP1
import TestSupport
import Testing

/// Issue #13, live: castbridge with `--auth oidc` against a real OpenID Connect issuer on loopback (`TestIssuer`:
/// discovery and JWKS over HTTP), and with `--auth mock`.
@Suite("Security: tokens, SMART scopes, topics (live)")
struct SecurityTests {
    static func oidc(_ issuer: TestIssuer, refetchSeconds: Double = 0.05) -> (inout ServerConfiguration) -> Void {
        let url = issuer.issuer
        return {
            $0.auth = .oidc
            $0.oidcIssuer = url
            $0.oidcAudience = "castbridge"
            $0.oidcRefetchSeconds = refetchSeconds
        }
    }

    static func subscribeForm(topic: String, events: String) -> String {
        FormBody.encode([("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", topic), ("hub.events", events)])
    }

    static func subscribe(_ server: TestServer, topic: String, events: String, bearer: String?) async throws -> TestServer.HTTPResult {
        try await TestServer.request(
            .POST, server.stu3, body: subscribeForm(topic: topic, events: events), contentType: "application/x-www-form-urlencoded", bearer: bearer)
    }

    static func publish(_ server: TestServer, _ event: JSONValue, bearer: String?) async throws -> TestServer.HTTPResult {
        try await TestServer.request(
            .POST, server.stu3, body: String(decoding: try JSONEncoder().encode(event), as: UTF8.self), contentType: "application/json", bearer: bearer)
    }

    @Test("--oidc-discovery-url: discovery read at an internal address, tokens still checked against the public issuer")
    func discoveryElsewhere() async throws {
        let issuer = try await TestIssuer.start()
        let discovery = issuer.internalDiscovery
        let publicIssuer = issuer.publicIssuer
        let configure: @Sendable (inout ServerConfiguration) -> Void = {
            $0.auth = .oidc
            $0.oidcIssuer = publicIssuer
            $0.oidcDiscoveryURL = discovery
            $0.oidcAudience = "castbridge"
        }
        let publicToken = try await issuer.token(hubTopic: "T1", issuer: publicIssuer)
        let loopbackToken = try await issuer.token(hubTopic: "T1")
        // Without --oidc-discovery-url castbridge would read discovery from the public name, which does not reach the
        // provider from here (every other OIDC test reads it from the issuer).
        try await TestServer.with({ configure(&$0) }) { (server: TestServer) async throws in
            #expect(try await Self.subscribe(server, topic: "T1", events: "Patient-open", bearer: publicToken).status == 202)
            #expect(try await Self.subscribe(server, topic: "T1", events: "Patient-open", bearer: loopbackToken).status == 401)
        }
    }

    @Test("A missing, malformed, expired, not-yet-valid, wrongly signed, wrong-issuer, wrong-audience, alg none or HS256 token gets 401 with WWW-Authenticate invalid_token, and nothing is subscribed")
    func badTokens() async throws {
        let issuer = try await TestIssuer.start()
        try await issuer.addES256("unpublished", publish: false)
        let good = try await issuer.token(hubTopic: "T1")
        let forged = try await issuer.token(kid: "unpublished", hubTopic: "T1")
        let cases: [(String, String?)] = [
            ("missing", nil), ("not bearer", "Basic dXNlcjpwYXNz"), ("malformed", "Bearer not-a-jwt"),
            ("expired", "Bearer " + (try await issuer.token(hubTopic: "T1", expiresIn: -120))),
            ("not yet valid", "Bearer " + (try await issuer.token(hubTopic: "T1", notBefore: 600))),
            ("wrong key", "Bearer " + forged),
            ("wrong issuer", "Bearer " + (try await issuer.token(hubTopic: "T1", issuer: "https://evil.example/realms/castbridge"))),
            ("wrong audience", "Bearer " + (try await issuer.token(hubTopic: "T1", audience: ["someone-else"]))),
            ("alg none", "Bearer " + Self.unsigned(good, alg: "none")),
            ("HS256", "Bearer " + Self.unsigned(good, alg: "HS256") + "AAAA"),
        ]
        try await TestServer.with(Self.oidc(issuer)) { server in
            for (name, header) in cases {
                let result = try await TestServer.request(
                    .POST, server.stu3, body: Self.subscribeForm(topic: "T1", events: "Patient-open"),
                    contentType: "application/x-www-form-urlencoded", authorization: header)
                #expect(result.status == 401, "\(name)")
                #expect(result.headers["WWW-Authenticate"].first?.contains(#"error="invalid_token""#) == true, "\(name)")
                let published = try await TestServer.request(
                    .POST, server.stu3, body: #"{"timestamp":"2026-01-01T00:00:00Z","id":"x","event":{"hub.topic":"T1","hub.event":"Patient-open","context":[]}}"#,
                    contentType: "application/json", authorization: header)
                #expect(published.status == 401, "\(name)")
            }
            #expect(try await server.get("/health").json?["subscriptions"] == 0)
            // Discovery and health need no token; the good token works.
            #expect(try await server.get("/fhircast/STU3/.well-known/fhircast-configuration").status == 200)
            let accepted = try await Self.subscribe(server, topic: "T1", events: "Patient-open", bearer: good)
            #expect(accepted.status == 202, "\(accepted.body)")
        }
        await issuer.stop()
    }

    /// The token's header and payload with another `alg` and no signature.
    static func unsigned(_ token: String, alg: String) -> String {
        let parts = token.split(separator: ".")
        let header = TestIssuer.base64URL(Data(#"{"alg":"\#(alg)","kid":"k1","typ":"JWT"}"#.utf8))
        return "\(header).\(parts[1])."
    }

    @Test("C7 (a) (b): a token that may read only Patient-open, subscribing to Patient-open and Encounter-open, is granted Patient-open alone, never receives Encounter-open, and cannot publish")
    func smartScopes() async throws {
        let issuer = try await TestIssuer.start()
        let reader = try await issuer.token(scope: "openid fhircast/Patient-open.read", hubTopic: "T1")
        let writer = try await issuer.token(scope: "fhircast/*.write fhircast/*.read", hubTopic: "T1")
        try await TestServer.with(Self.oidc(issuer)) { server in
            let subscribed = try await Self.subscribe(server, topic: "T1", events: "Patient-open,Encounter-open", bearer: reader)
            #expect(subscribed.status == 202)
            let endpoint = try #require(subscribed.json?["hub.channel.endpoint"]?.stringValue)
            let socket = try await TestSocket.connect(endpoint)
            let confirmation = try #require(try await socket.nextJSON())
            #expect(confirmation["hub.events"] == "Patient-open")
            let encounter = Events.notification(
                "Encounter-open", topic: "T1", id: "enc-1",
                context: [["key": "encounter", "resource": ["resourceType": "Encounter", "id": "e1"]], Events.patient("p9")])
            #expect(try await Self.publish(server, encounter, bearer: writer).status == 200)
            // The Encounter-open implies a Patient-open, which the reader may receive; the Encounter-open itself never comes.
            let got = try #require(try await socket.nextJSON(timeout: .seconds(5)))
            #expect(got["event"]?["hub.event"] == "Patient-open")
            _ = try await socket.nextJSON(timeout: .milliseconds(300))
            let refused = try await Self.publish(server, Events.patientOpen(topic: "T1", id: "p-by-reader"), bearer: reader)
            #expect(refused.status == 403)
            #expect(refused.headers["WWW-Authenticate"].first?.contains("insufficient_scope") == true)
            #expect(refused.body.contains("fhircast/Patient-open.write"))
            #expect(try await Self.publish(server, Events.patientOpen(topic: "T1", id: "p-by-writer"), bearer: writer).status == 200)
            #expect(try await socket.nextJSON(timeout: .seconds(5))?["id"] == "p-by-writer")
            // A subscription to nothing the token may read is refused.
            #expect(try await Self.subscribe(server, topic: "T1", events: "Encounter-open", bearer: reader).status == 403)
            socket.close()
        }
        await issuer.stop()
    }

    @Test("C7 (c): hub.lease_seconds is capped at the token's remaining lifetime")
    func leaseCap() async throws {
        let issuer = try await TestIssuer.start()
        let shortLived = try await issuer.token(hubTopic: "T1", expiresIn: 90)
        try await TestServer.with(Self.oidc(issuer)) { server in
            let subscribed = try await TestServer.request(
                .POST, server.stu3,
                body: FormBody.encode([
                    ("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "T1"), ("hub.events", "Patient-open"),
                    ("hub.lease_seconds", "3600"),
                ]), contentType: "application/x-www-form-urlencoded", bearer: shortLived)
            let endpoint = try #require(subscribed.json?["hub.channel.endpoint"]?.stringValue)
            let socket = try await TestSocket.connect(endpoint)
            guard case .int(let lease)? = try await socket.nextJSON()?["hub.lease_seconds"] else { throw TestFailure("no lease") }
            #expect(lease <= 90 && lease >= 80)
            socket.close()
        }
        await issuer.stop()
    }

    @Test("Topic ownership both sides: a token for T1 gets 403 on T2 (FHIRcast and Cast); '*' needs the any-topic role; the admin snapshot needs the admin role")
    func topicsAndRoles() async throws {
        let issuer = try await TestIssuer.start()
        let user = try await issuer.token(hubTopic: "T1")
        let castUser = try await issuer.token(scope: "openid", topic: "USER-1")
        let provider = try await issuer.token(scope: "openid", roles: ["castbridge-any-topic"])
        let admin = try await issuer.token(scope: "openid", roles: ["castbridge-admin"])
        try await TestServer.with(Self.oidc(issuer)) { server in
            let other = try await Self.subscribe(server, topic: "T2", events: "Patient-open", bearer: user)
            #expect(other.status == 403)
            #expect(other.body.contains("T1") && other.body.contains("T2"))
            #expect(try await Self.publish(server, Events.patientOpen(topic: "T2"), bearer: user).status == 403)
            #expect(try await TestServer.request(.GET, "\(server.stu3)/T2", bearer: user).status == 403)

            func castSubscribe(_ topic: String, _ token: String?) async throws -> TestServer.HTTPResult {
                try await TestServer.request(
                    .POST, "\(server.base)/api/hub",
                    body: FormBody.encode([("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", topic), ("hub.events", "imagingstudy-open"), ("subscriber.name", "viewer")]),
                    contentType: "application/x-www-form-urlencoded", bearer: token)
            }
            #expect(try await castSubscribe("USER-1", castUser).status == 202)
            let foreign = try await castSubscribe("USER-2", castUser)
            #expect(foreign.status == 403)
            #expect(foreign.json?["detail"]?["error"] == "insufficient_scope")
            #expect(try await castSubscribe("*", castUser).status == 403)
            #expect(try await castSubscribe("*", provider).status == 202)
            let unauthenticated = try await castSubscribe("USER-1", nil)
            #expect(unauthenticated.status == 401)
            #expect(unauthenticated.json?["detail"]?["error"] == "invalid_token")

            #expect(try await TestServer.request(.GET, "\(server.base)/api/hub/admin/snapshot", bearer: user).status == 403)
            #expect(try await TestServer.request(.GET, "\(server.base)/api/hub/admin/snapshot", bearer: admin).status == 200)
            #expect(try await TestServer.request(.DELETE, "\(server.base)/api/hub", bearer: provider).status == 403)
        }
        await issuer.stop()
    }

    @Test("Key rotation: a token signed with a key the issuer published after castbridge started is accepted without a restart; a key it never published is not")
    func keyRotation() async throws {
        let issuer = try await TestIssuer.start()
        try await TestServer.with(Self.oidc(issuer, refetchSeconds: 1)) { server in
            #expect(try await Self.subscribe(server, topic: "T1", events: "Patient-open", bearer: try await issuer.token(hubTopic: "T1")).status == 202)
            let before = await issuer.keys.fetches
            try await issuer.addRS256("k2")
            try await Task.sleep(for: .milliseconds(1100))
            let rotated = try await issuer.token(kid: "k2", hubTopic: "T1")
            #expect(try await Self.subscribe(server, topic: "T1", events: "Patient-open", bearer: rotated).status == 202)
            #expect(await issuer.keys.fetches == before + 1)
            try await issuer.addES256("k3", publish: false)
            let unpublished = try await issuer.token(kid: "k3", hubTopic: "T1")
            #expect(try await Self.subscribe(server, topic: "T1", events: "Patient-open", bearer: unpublished).status == 401)
            // Unknown key ids do not make castbridge fetch the key set on every call: at most once a second here.
            let start = ContinuousClock.now
            for _ in 0..<5 { _ = try await Self.subscribe(server, topic: "T1", events: "Patient-open", bearer: unpublished) }
            let seconds = Int((ContinuousClock.now - start).components.seconds)
            #expect(await issuer.keys.fetches <= before + 2 + seconds)
        }
        await issuer.stop()
    }

    @Test("CORS: by default no origin may read (no Access-Control-Allow-Origin, above all none with credentials); a configured origin may, with credentials; '*' lets any read without")
    func cors() async throws {
        func origin(_ server: TestServer, _ origin: String, preflight: Bool = false) async throws -> TestServer.HTTPResult {
            var headers = [("Origin", origin)]
            if preflight { headers += [("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "authorization,content-type")] }
            return try await TestServer.request(preflight ? .OPTIONS : .GET, "\(server.stu3)/.well-known/fhircast-configuration", headers: headers)
        }
        try await TestServer.with { server in
            for preflight in [false, true] {
                let answer = try await origin(server, "https://evil.example", preflight: preflight)
                #expect(answer.headers["Access-Control-Allow-Origin"].isEmpty && answer.headers["Access-Control-Allow-Credentials"].isEmpty)
            }
        }
        try await TestServer.with({ $0.corsOrigins = ["https://viewer.example"] }) { server in
            let allowed = try await origin(server, "https://viewer.example")
            #expect(allowed.headers["Access-Control-Allow-Origin"] == ["https://viewer.example"])
            #expect(allowed.headers["Access-Control-Allow-Credentials"] == ["true"])
            let preflight = try await origin(server, "https://viewer.example", preflight: true)
            #expect(preflight.headers["Access-Control-Allow-Origin"] == ["https://viewer.example"])
            #expect(try await origin(server, "https://evil.example").headers["Access-Control-Allow-Origin"].isEmpty)
        }
        try await TestServer.with({ $0.corsOrigins = ["*"] }) { server in
            let any = try await origin(server, "https://anywhere.example")
            #expect(any.headers["Access-Control-Allow-Origin"] == ["*"])
            #expect(any.headers["Access-Control-Allow-Credentials"].isEmpty)
        }
    }

    @Test("STU2 webhook callbacks: loopback refused when castbridge binds an address others reach, unless allowed; a name resolving to loopback too; metadata and link-local never")
    func webhookAddresses() async throws {
        try await CallbackServer.with { cb in
            let callbackPort = cb.url.split(separator: ":").last.map { String($0.prefix { $0.isNumber }) } ?? "9"
            let exposed: (inout ServerConfiguration) -> Void = {
                $0.host = "0.0.0.0"
                $0.allowAnonymous = true
            }
            let allowing: (inout ServerConfiguration) -> Void = {
                exposed(&$0)
                $0.webhookAllow = ["127.0.0.0/8", "169.254.0.0/16"].compactMap(CIDR.init)
            }
            try await TestServer.with(exposed) { server in
                for callback in [cb.url, "http://localhost:\(callbackPort)/hook", "http://169.254.169.254/latest/meta-data", "http://[fe80::1]/x"] {
                    let refused = try await WebhookTests.subscribeWebhook(server, callback: callback, topic: "wh")
                    #expect(refused.status == 400, "\(callback)")
                    #expect(refused.body.contains("hub.callback"), "\(callback): \(refused.body)")
                }
                #expect(cb.snapshot().verifications.isEmpty)
                // Cast WebSub callbacks follow the same rules.
                let websub = try await TestServer.request(
                    .POST, "\(server.base)/api/hub",
                    body: FormBody.encode([
                        ("hub.mode", "subscribe"), ("hub.channel.type", "webhook"), ("hub.callback", "http://169.254.169.254/latest"),
                        ("hub.secret", "s3cret"), ("hub.topic", "wh"), ("hub.events", "patient-open"), ("subscriber.name", "hook"),
                    ]), contentType: "application/x-www-form-urlencoded")
                #expect(websub.status == 400)
                #expect(websub.body.contains("169.254.169.254"))
            }
            try await TestServer.with(allowing) { server in
                let allowed = try await WebhookTests.subscribeWebhook(server, callback: cb.url, topic: "wh")
                #expect(allowed.status == 202)
                #expect(await cb.wait { !$0.verifications.isEmpty })
                let metadata = try await WebhookTests.subscribeWebhook(server, callback: "http://169.254.169.254/latest", topic: "wh")
                #expect(metadata.status == 400)
            }
        }
    }

    @Test("Caps: beyond its subscriptions per token, or a topic's, a subscribe is refused with 429, a reason and Retry-After")
    func caps() async throws {
        let limited: (inout ServerConfiguration) -> Void = {
            $0.auth = .mock
            $0.hub.maxSubscriptionsPerOwner = 2
            $0.hub.maxSubscriptionsPerTopic = 3
        }
        try await TestServer.with(limited) { server in
            func token(_ user: String) async throws -> String {
                let code = try #require(
                    try await TestServer.request(.POST, "\(server.base)/oauth/authorize", body: "user_name=\(user)&topic=ROOM", contentType: "application/x-www-form-urlencoded").json?["code"]?.stringValue)
                return try #require(
                    try await TestServer.request(.POST, "\(server.base)/oauth/token", body: "code=\(code)", contentType: "application/x-www-form-urlencoded").json?["access_token"]?.stringValue)
            }
            let alice = try await token("alice"), bob = try await token("bob")
            for _ in 0..<2 { #expect(try await Self.subscribe(server, topic: "ROOM", events: "Patient-open", bearer: alice).status == 202) }
            let third = try await Self.subscribe(server, topic: "ROOM", events: "Patient-open", bearer: alice)
            #expect(third.status == 429)
            #expect(third.body.contains("alice") && !third.headers["Retry-After"].isEmpty)
            #expect(try await Self.subscribe(server, topic: "ROOM", events: "Patient-open", bearer: bob).status == 202)
            let full = try await Self.subscribe(server, topic: "ROOM", events: "Patient-open", bearer: bob)
            #expect(full.status == 429)
            #expect(full.body.contains("topic 'ROOM'"))
        }
    }

    @Test("Audit: every authentication and authorization failure, subscribe and unsubscribe is a record with who, the topic, the events and the outcome, and never the token")
    func audit() async throws {
        let audit = CollectingAudit()
        try await TestServer.with({ $0.auth = .mock }, audit: audit) { server in
            let code = try #require(
                try await TestServer.request(.POST, "\(server.base)/oauth/authorize", body: "user_name=alice&topic=ROOM-1", contentType: "application/x-www-form-urlencoded").json?["code"]?.stringValue)
            let token = try #require(
                try await TestServer.request(.POST, "\(server.base)/oauth/token", body: "code=\(code)", contentType: "application/x-www-form-urlencoded").json?["access_token"]?.stringValue)
            _ = try await Self.subscribe(server, topic: "ROOM-1", events: "Patient-open", bearer: nil)
            let endpoint = try #require(try await Self.subscribe(server, topic: "ROOM-1", events: "Patient-open,Encounter-open", bearer: token).json?["hub.channel.endpoint"]?.stringValue)
            _ = try await Self.subscribe(server, topic: "ROOM-2", events: "Patient-open", bearer: token)
            _ = try await Self.publish(server, Events.patientOpen(topic: "ROOM-2", patient: "secret-mrn-42"), bearer: token)
            let leave = FormBody.encode([("hub.mode", "unsubscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "ROOM-1"), ("hub.channel.endpoint", endpoint)])
            #expect(try await TestServer.request(.POST, server.stu3, body: leave, contentType: "application/x-www-form-urlencoded", bearer: token).status == 202)
        }
        let records = audit.all
        #expect(records.map { "\($0.action) \($0.status)" } == ["authenticate 401", "subscribe 202", "subscribe 403", "publish 403", "unsubscribe 202"])
        #expect(records[0].subject == nil && records[0].reason?.contains("Bearer") == true)
        #expect(records[1].subject == "alice" && records[1].topic == "ROOM-1" && records[1].events == ["Patient-open", "Encounter-open"])
        #expect(records[1].outcome == "allowed" && records[2].outcome == "denied" && records[2].topic == "ROOM-2")
        for record in records {
            #expect(!record.jsonLine.contains("eyJ"), "a token in \(record.jsonLine)")
            #expect(!record.jsonLine.contains("secret-mrn-42"))
        }
    }

    @Test("The bridge's client credentials against a real token endpoint: a castbridge bridged to an external castbridge with --auth oidc carries events both ways")
    func bridgeWithClientCredentials() async throws {
        let issuer = try await TestIssuer.start()
        let viewerToken = try await issuer.token(scope: "openid", topic: "USER-5")
        try await TestServer.with(Self.oidc(issuer)) { external in
            let bridged: (inout ServerConfiguration) -> Void = {
                BridgeTests.bridged(&$0)
                $0.castHubURL = external.base
                $0.castAuth = .clientCredentials(
                    tokenURL: issuer.issuer + "/protocol/openid-connect/token", clientID: "castbridge-bridge", clientSecret: "s")
                $0.bridgeReconnectBaseSeconds = 0.05
            }
            try await TestServer.with(bridged) { server in
                try await BridgeTests.waitForBridge(server)
                let (fhircast, _, _) = try await server.subscriber(topic: "USER-5", events: "ImagingStudy-open")
                let (viewer, _) = try await TestServer.castSubscriber(
                    base: external.base, topic: "USER-5", events: "imagingstudy-open", name: "OHIF", bearer: viewerToken)
                let fromCast = BridgeTests.castEvent("imagingstudy-open", topic: "USER-5", from: "OHIF", id: "cc-1", context: [BridgeTests.study])
                let sent = try await TestServer.request(
                    .POST, "\(external.base)/api/hub", body: String(decoding: try JSONEncoder().encode(fromCast), as: UTF8.self),
                    contentType: "application/json", bearer: viewerToken)
                #expect(sent.status == 200)
                #expect(try await fhircast.nextJSON(timeout: .seconds(5))?["id"] == "cc-1")
                _ = try await server.publish(Events.notification("ImagingStudy-open", topic: "USER-5", id: "cc-2", context: [BridgeTests.study]))
                #expect(try await viewer.nextJSON(timeout: .seconds(5))?["id"] == "cc-2")
                viewer.close()
                fhircast.close()
            }
        }
        await issuer.stop()
    }

    @Test("--auth mock: the development server's token (code flow or client credentials) works on both hubs, for its own topic only")
    func mockMode() async throws {
        try await TestServer.with({ $0.auth = .mock }) { server in
            let code = try #require(
                try await TestServer.request(.POST, "\(server.base)/oauth/authorize", body: "user_name=alice&topic=ROOM-1", contentType: "application/x-www-form-urlencoded").json?["code"]?.stringValue)
            let answer = try #require(
                try await TestServer.request(.POST, "\(server.base)/oauth/token", body: "grant_type=authorization_code&code=\(code)", contentType: "application/x-www-form-urlencoded").json)
            #expect(answer["hub.topic"] == "ROOM-1")
            #expect(answer["hub.url"]?.stringValue == server.stu3)
            let token = try #require(answer["access_token"]?.stringValue)
            #expect(try await Self.subscribe(server, topic: "ROOM-1", events: "Patient-open", bearer: token).status == 202)
            #expect(try await Self.subscribe(server, topic: "ROOM-2", events: "Patient-open", bearer: token).status == 403)
            #expect(try await Self.subscribe(server, topic: "ROOM-1", events: "Patient-open", bearer: nil).status == 401)
            let service = try #require(
                try await TestServer.request(.POST, "\(server.base)/oauth/token", body: "grant_type=client_credentials&client_id=ai&scope=castbridge-any-topic", contentType: "application/x-www-form-urlencoded").json?["access_token"]?.stringValue)
            let star = try await TestServer.request(
                .POST, "\(server.base)/api/hub",
                body: FormBody.encode([("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "*"), ("hub.events", "dicom-send"), ("subscriber.name", "ai")]),
                contentType: "application/x-www-form-urlencoded", bearer: service)
            #expect(star.status == 202)
        }
    }
}
