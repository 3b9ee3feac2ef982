import BridgeService
import Synchronization
import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOHTTP1
import AsyncHTTPClient
import NIOCore
import Testing

/// The embedded Cast hub against real websocket clients (cast-protocol.md §1–§3, §7).
@Suite("Embedded Cast hub (live)")
struct CastHubTests {
    static func event(_ name: String, topic: String, from: String? = nil, extra: [String: JSONValue] = [:]) -> JSONValue {
        var root: [String: JSONValue] = ["timestamp": "2026-01-01T00:00:00Z", "id": .string(UUID().uuidString), "event": ["hub.topic": .string(topic), "hub.event": .string(name), "context": ["value": 1]]]
        if let from { root["subscriber.name"] = .string(from) }
        for (k, v) in extra { root[k] = v }
        return .object(root)
    }

    @Test("Subscribe → 202 /bind/<uuid>; the first frame is connection.established; publish → 200 received, forwarded as-is with host")
    func subscribeBindPublish() async throws {
        try await TestServer.with { server in
            let (viewer, endpoint) = try await server.castSubscriber(topic: "T", events: "annotation-update", name: "Viewer")
            #expect(endpoint.contains("/bind/"))
            let sent = Self.event("Annotation-Update", topic: "T", from: "Slicer", extra: ["subscriber.product.version": "5.8"])
            let result = try await server.castPost(sent, path: "/api/hub/")
            #expect(result.status == 200)
            #expect(result.json == ["status": "received"])
            let got = try #require(try await viewer.nextJSON())
            #expect(got["event"]?["hub.event"] == "Annotation-Update")
            #expect(got["id"] == sent["id"])
            #expect(got["host"] == .string("127.0.0.1:\(server.port)"))
            #expect(got["subscriber.product.version"] == nil)
        }
    }

    @Test("Echo suppression by subscriber.name; routing by target.actor, target.product.name and target.subscriber.name; * topics")
    func routing() async throws {
        try await TestServer.with { server in
            let (slicer, _) = try await server.castSubscriber(topic: "T", events: "*", name: "Slicer", actors: "[\"ID\"]", product: "3DSlicer")
            let (worklist, _) = try await server.castSubscriber(topic: "T", events: "*", name: "Worklist", actors: "WORKLIST_CLIENT", product: "vtk")
            let (server2, _) = try await server.castSubscriber(topic: "*", events: "status-update", name: "ResourceServer", actors: "[\"EC\"]")
            _ = try await server.castPost(Self.event("status-update", topic: "T", from: "slicer"))
            #expect(try await worklist.nextJSON()?["event"]?["hub.event"] == "status-update")
            #expect(try await server2.nextJSON()?["event"]?["hub.event"] == "status-update")
            #expect(await slicer.expectSilence(.milliseconds(300)) == nil)  // its own echo
            _ = try await server.castPost(Self.event("measurement-update", topic: "T", from: "X", extra: ["target.actor": "ID"]))
            #expect(try await slicer.nextJSON()?["event"]?["hub.event"] == "measurement-update")
            _ = try await server.castPost(Self.event("measurement-update", topic: "T", from: "X", extra: ["target.product.name": "vtk"]))
            _ = try await server.castPost(Self.event("measurement-update", topic: "T", from: "X", extra: ["target.subscriber.name": "worklist"]))
            #expect(try await worklist.nextJSON()?["event"]?["hub.event"] == "measurement-update")
            #expect(try await worklist.nextJSON()?["event"]?["hub.event"] == "measurement-update")
            #expect(await slicer.expectSilence(.milliseconds(300)) == nil)
            #expect(await server2.expectSilence(.milliseconds(100)) == nil)
        }
    }

    @Test("Unsubscribe → 200 removed count and subscription-removed to peers; a closed socket does the same; DELETE empty clears")
    func removal() async throws {
        try await TestServer.with { server in
            let (watcher, _) = try await server.castSubscriber(topic: "T", events: "subscription-removed", name: "Watcher")
            let (leaver, endpoint) = try await server.castSubscriber(topic: "T", events: "*", name: "Leaver", product: "OHIF")
            let un = try await server.castPost(["hub.mode": "unsubscribe", "hub.channel.endpoint": .string(endpoint)])
            #expect(un.status == 200)
            #expect(un.json == ["status": "unsubscribed", "removed": 1])
            // The removed socket is closed with 1000 and nothing before it (an empty text frame once came first, which
            // the reference's Python client logged as invalid JSON; Docs/interop.md).
            #expect(await leaver.next(timeout: .seconds(2)) == .closed(1000))
            let notice = try #require(try await watcher.nextJSON())
            #expect(notice["subscriber.name"] == "Leaver")
            #expect(notice["event"]?["context"] == ["reason": "unsubscribe", "subscriber": "Leaver"])
            let (closer, _) = try await server.castSubscriber(topic: "T", events: "*", name: "Closer")
            closer.close()
            #expect(try await watcher.nextJSON()?["event"]?["context"]?["reason"] == "websocket-disconnect")
            let cleared = try await TestServer.request(.DELETE, "\(server.base)/api/hub")
            #expect(cleared.json == ["status": "cleared"])
            #expect(await watcher.next(timeout: .seconds(2)) == .closed(1000))
        }
    }

    @Test("JSON ping is answered with pong; a binary frame would end the socket; odd frames are ignored")
    func pingPong() async throws {
        try await TestServer.with { server in
            let (s, _) = try await server.castSubscriber(topic: "T", events: "*", name: "P")
            s.send("{\"hub.channel.endpoint\":\"ws://x/bind/y\"}")
            s.send("not json")
            s.send(["type": "ping"])
            let pong = try #require(try await s.nextJSON())
            #expect(pong["type"] == "pong")
        }
    }

    @Test("Requests: fan-out to each responder, one answers, one times out → collated with missing and timedOut")
    func requestWithTimeout() async throws {
        try await TestServer.with { server in
            let (slicer, _) = try await server.castSubscriber(topic: "T", events: "status-request", name: "Slicer", actors: "[\"ID\"]")
            let (_, _) = try await server.castSubscriber(topic: "T", events: "status-request", name: "Sleepy")
            let (_, _) = try await server.castSubscriber(topic: "T", events: "*", name: "Asker")
            let responder = Task {
                guard let frame = try await slicer.nextJSON() else { return }
                let cid = frame["event"]?["context"]?["id"] ?? .null
                slicer.send(["id": "resp-1", "subscriber.name": "Slicer", "actor": "ID", "event": ["hub.topic": "T", "hub.event": "status-response", "context": ["id": cid, "dataType": "STATUS", "data": ["availability": "online"]]]])
            }
            let started = ContinuousClock.now
            let result = try await server.castPost(
                ["subscriber.name": "Asker", "id": "corr-1", "event": ["hub.topic": "T", "hub.event": "status-request", "context": ["dataType": "STATUS", "timeoutSeconds": 1]]], path: "/api/hub/request")
            try await responder.value
            #expect(result.status == 200)
            let body = try #require(result.json)
            #expect(body["expected"] == ["Slicer", "Sleepy"])
            #expect(body["missing"] == ["Sleepy"])
            #expect(body["timedOut"] == true)
            #expect(body["ok"] == false)
            #expect(body["error"]?.stringValue?.hasPrefix("Timeout after") == true)
            #expect(body["responses"]?.arrayValue?.map { $0["subscriber"] } == ["Slicer"])
            #expect(body["responses"]?.arrayValue?.first?["data"] == ["availability": "online"])
            #expect(ContinuousClock.now - started >= .milliseconds(900))
        }
    }

    @Test("Requests return as soon as every responder answered; 400s for malformed requests")
    func requestFastAndErrors() async throws {
        try await TestServer.with { server in
            let (slicer, _) = try await server.castSubscriber(topic: "T", events: "status-request", name: "Slicer")
            let responder = Task {
                guard let frame = try await slicer.nextJSON() else { return }
                slicer.send(["id": "r", "subscriber.name": "Slicer", "event": ["hub.event": "status-response", "context": ["id": frame["event"]?["context"]?["id"] ?? .null, "data": 1]]])
            }
            let started = ContinuousClock.now
            let result = try await server.castPost(["subscriber.name": "Asker", "id": "c2", "event": ["hub.topic": "T", "hub.event": "status-request", "context": ["timeoutSeconds": 5]]], path: "/api/hub/request")
            try await responder.value
            #expect(result.json?["ok"] == true)
            #expect(result.json?["exists"] == false)
            #expect(ContinuousClock.now - started < .seconds(3))
            let bad = try await server.castPost(["id": "x", "event": ["hub.event": "status-request"]], path: "/api/hub/request")
            #expect(bad.status == 400)
            #expect(bad.json == ["detail": "Missing 'subscriber.name' parameter"])
            let noTopic = try await server.castPost(["event": ["hub.event": "x"]])
            #expect(noTopic.json == ["detail": "Missing event.hub.topic for publish request"])
        }
    }

    @Test("Conferences: create sends conference-start to every participant socket; events cross topics; leave and end")
    func conferences() async throws {
        try await TestServer.with { server in
            let (host, _) = try await server.castSubscriber(topic: "HOST", events: "annotation-update", name: "HostViewer")
            let (attendee, _) = try await server.castSubscriber(topic: "A1", events: "patient-open", name: "AttendeeViewer")
            let (outsider, _) = try await server.castSubscriber(topic: "OTHER", events: "*", name: "Outsider")
            let bad = try await server.castPost(["title": "x"], path: "/api/hub/conference")
            #expect(bad.status == 400)
            #expect(bad.json == ["detail": "hostTopic is required"])
            let created = try await server.castPost(["hostTopic": "HOST", "title": "Tumor board", "topics": ["A1", "*", "HOST", "A1"]], path: "/api/hub/conference")
            #expect(created.json?["status"] == "created")
            #expect(created.json?["conference"]?["topics"] == ["A1"])
            for socket in [host, attendee] {
                let start = try #require(try await socket.nextJSON())
                #expect(start["event"]?["hub.event"] == "conference-start")
                #expect(start["event"]?["hub.topic"] == "HOST")
                #expect(start["event"]?["context"]?["participants"] == ["HostViewer", "AttendeeViewer"])
            }
            let list = try #require(try await server.get("/api/hub/conference").json)
            #expect(list.arrayValue?.first?["participants"] == ["HostViewer", "AttendeeViewer"])
            #expect(try await server.get("/api/hub/conference-topics").json == ["A1", "HOST", "OTHER"])
            // An event on the host topic reaches the attendee, whatever its events, with the host's topic.
            _ = try await server.castPost(Self.event("annotation-update", topic: "HOST", from: "HostViewer"))
            let crossed = try #require(try await attendee.nextJSON())
            #expect(crossed["event"]?["hub.topic"] == "HOST")
            #expect(await host.expectSilence(.milliseconds(200)) == nil)  // its own publish
            #expect(await outsider.expectSilence(.milliseconds(100)) == nil)
            // The attendee leaves: only it gets conference-end.
            let left = try await TestServer.request(.DELETE, "\(server.base)/api/hub/conference", body: "{\"hostTopic\":\"HOST\",\"leaveTopic\":\"A1\"}", contentType: "application/json")
            #expect(left.json == ["removed": 0, "updated": 1])
            #expect(try await attendee.nextJSON()?["event"]?["context"]?["reason"] == "attendee-left")
            #expect(await host.expectSilence(.milliseconds(200)) == nil)
            let ended = try await TestServer.request(.DELETE, "\(server.base)/api/hub/conference", body: "{\"hostTopic\":\"HOST\"}", contentType: "application/json")
            #expect(ended.json == ["removed": 1, "updated": 0])
            #expect(try await host.nextJSON()?["event"]?["context"]?["reason"] == "host-ended")
        }
    }

    @Test("Admin: the snapshot never contains secrets; reset clears everything and closes sockets")
    func admin() async throws {
        try await TestServer.with { server in
            let form = "hub.mode=subscribe&hub.channel.type=websocket&hub.topic=T&hub.events=*&subscriber.name=S&hub.secret=TOPSECRET"
            let sub = try await TestServer.request(.POST, "\(server.base)/api/hub", body: form, contentType: "application/x-www-form-urlencoded")
            let socket = try await TestSocket.connect(try #require(sub.json?["hub.channel.endpoint"]?.stringValue))
            _ = try await socket.nextJSON()
            let snapshot = try await server.get("/api/hub/admin/snapshot")
            #expect(snapshot.status == 200)
            #expect(!snapshot.body.contains("TOPSECRET"))
            #expect(snapshot.json?["stats"]?["total_subscriptions"] == 1)
            #expect(snapshot.json?["subscriptions"]?.arrayValue?.first?["connected"] == true)
            let reset = try await server.castPost([:], path: "/api/admin/reset")
            #expect(reset.json?["status"] == "reset")
            let (_, code) = await socket.waitForClose(timeout: .seconds(2))
            #expect(code != nil)
            #expect(try await server.get("/api/hub/admin/snapshot").json?["stats"]?["total_subscriptions"] == 0)
        }
    }

    static func claims(_ jwt: String) -> JSONValue? {
        let parts = jwt.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var b64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64) else { return nil }
        return try? JSONValue.parse(data)
    }

    static func form(_ server: TestServer, _ path: String, _ body: String) async throws -> TestServer.HTTPResult {
        try await TestServer.request(.POST, "\(server.base)\(path)", body: body, contentType: "application/x-www-form-urlencoded")
    }

    @Test("Mock OAuth: authorize → token gives HS256 tokens with the listed claims and the topic; codes are one-time")
    func oauthCodeFlow() async throws {
        try await TestServer.with { server in
            let auth = try await Self.form(server, "/oauth/authorize", "user_name=alice&topic=reading-room-1")
            #expect(auth.json?["user_name"] == "alice")
            #expect(auth.json?["expires_in"] == 60)
            let code = try #require(auth.json?["code"]?.stringValue)
            let token = try await Self.form(server, "/oauth/token", "grant_type=authorization_code&code=\(code)&client_id=x&client_secret=y")
            #expect(token.status == 200)
            let body = try #require(token.json)
            // No scope asked: the development server grants all of FHIRcast; SMART's hub.url and hub.topic come along (C7).
            #expect(body["token_type"] == "Bearer" && body["expires_in"] == 3600 && body["scope"] == "openid fhircast/*.read fhircast/*.write")
            #expect(body["topic"] == "reading-room-1" && body["hub.topic"] == "reading-room-1")
            #expect(body["hub.url"]?.stringValue == "\(server.base)/fhircast/STU3")
            let access = try #require(Self.claims(body["access_token"]?.stringValue ?? ""))
            #expect(access["iss"] == "cast-hub" && access["aud"] == "cast-clients" && access["typ"] == "access")
            #expect(access["topic"] == "reading-room-1" && access["user_name"] == "alice" && access["scope"] == "openid fhircast/*.read fhircast/*.write")
            #expect(access["jti"] != nil && access["iat"] != nil && access["nbf"] != nil && access["exp"] != nil && access["token_counter"] != nil)
            #expect(Self.claims(body["id_token"]?.stringValue ?? "")?["typ"] == "id")
            // One-time code.
            let again = try await Self.form(server, "/oauth/token", "code=\(code)")
            #expect(again.status == 401)
            #expect(again.json?["detail"]?["error"] == "invalid_grant")
            // Re-authorize with the id_token keeps the identity.
            let reauth = try await Self.form(server, "/oauth/authorize", "id_token=\(body["id_token"]?.stringValue ?? "")")
            #expect(reauth.json?["user_name"] == "alice")
            let forged = try await Self.form(server, "/oauth/authorize", "id_token=eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX25hbWUiOiJldmUifQ.AAAA")
            #expect(forged.status == 401)
            #expect(forged.json?["detail"]?["error"] == "invalid_token")
            let anonymous = try await Self.form(server, "/oauth/authorize", "")
            #expect(anonymous.json?["user_name"]?.stringValue?.hasPrefix("USER-") == true)
            let credentials = try await Self.form(server, "/oauth/token", "grant_type=password&username=a")
            #expect(credentials.status == 400)
            #expect(credentials.json?["detail"]?["error"] == "unsupported_grant_type")
            let noCode = try await Self.form(server, "/oauth/token", "grant_type=authorization_code")
            #expect(noCode.status == 400)
        }
    }

    @Test("Bearer enforcement (on by flag): 401 invalid_token without a token; the code flow's token is accepted")
    func bearerEnforcement() async throws {
        try await TestServer.with({ $0.castRequireAuth = true }) { server in
            let subscribe = "hub.mode=subscribe&hub.channel.type=websocket&hub.topic=T&hub.events=*&subscriber.name=S"
            let denied = try await Self.form(server, "/api/hub", subscribe)
            #expect(denied.status == 401)
            #expect(denied.json?["detail"]?["error"] == "invalid_token")
            let code = try #require(try await Self.form(server, "/oauth/authorize", "user_name=bob").json?["code"]?.stringValue)
            let access = try #require(try await Self.form(server, "/oauth/token", "code=\(code)").json?["access_token"]?.stringValue)
            var request = HTTPClientRequest(url: "\(server.base)/api/hub")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.headers.add(name: "Authorization", value: "Bearer \(access)")
            request.body = .bytes(ByteBuffer(string: subscribe))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            #expect(response.status.code == 202)
        }
    }

    @Test("Single-user mode: set by admin reset, every login is SINGLE-USER")
    func singleUser() async throws {
        try await TestServer.with { server in
            _ = try await Self.form(server, "/api/admin/reset", "single_user_mode=true")
            let auth = try await Self.form(server, "/oauth/authorize", "user_name=carol&topic=mine")
            #expect(auth.json?["user_name"] == "SINGLE-USER")
            let code = try #require(auth.json?["code"]?.stringValue)
            #expect(try await Self.form(server, "/oauth/token", "code=\(code)").json?["topic"] == "SINGLE-USER")
        }
    }

    @Test("Generation B: POST /api/hub/{topic} fills the topic; GET /api/hub/{topic} is the last context, reset by a close")
    func legacyTopicRoutes() async throws {
        try await TestServer.with { server in
            let (viewer, _) = try await server.castSubscriber(topic: "room", events: "imagingstudy-open,imagingstudy-close", name: "V")
            #expect(try await server.get("/api/hub/room").json == [:])
            let context: JSONValue = [["key": "study", "resource": ["resourceType": "ImagingStudy", "id": "s1"]]]
            let open: JSONValue = ["subscriber.name": "W", "event": ["hub.event": "imagingstudy-open", "context": context]]
            #expect(try await server.castPost(open, path: "/api/hub/room").status == 200)
            let got = try #require(try await viewer.nextJSON())
            #expect(got["event"]?["hub.topic"] == "room")
            #expect(try await server.get("/api/hub/room").json == context)
            _ = try await server.castPost(["subscriber.name": "W", "event": ["hub.topic": "room", "hub.event": "imagingstudy-close", "context": context]])
            #expect(try await server.get("/api/hub/room").json == [:])
            // The generation-D constant routes still win over {topic}.
            #expect(try await server.get("/api/hub/conference").json == [])
            #expect(try await server.get("/api/hub/conference-topics").json == ["room"])
        }
    }

    @Test("Generation B: cast-get sends get-request to the named subscriber and returns its get-response, or a timeout")
    func legacyCastGet() async throws {
        // Long enough for the responder on a loaded machine; the silent case waits it out once.
        try await TestServer.with({ $0.castGetTimeoutSeconds = 2 }) { server in
            let (ohif, _) = try await server.castSubscriber(topic: "T", events: "*", name: "OHIF-ABC123")
            let responder = Task {
                guard let frame = try await ohif.nextJSON() else { return }
                #expect(frame["event"]?["hub.event"] == "get-request")
                #expect(frame["actor"] == ["ID"])
                let requestId = frame["event"]?["context"]?["requestId"] ?? .null
                ohif.send(["event": ["hub.topic": "T", "hub.event": "get-response", "context": ["requestId": requestId, "dataType": "SCENEVIEW", "data": ["viewports": []]]]])
            }
            let answer = try await server.get("/api/hub/cast-get?subscriber=OHIF-ABC123&dataType=SCENEVIEW&actor=%5B%22ID%22%5D")
            try await responder.value
            #expect(answer.json?["exists"] == true && answer.json?["connected"] == true)
            #expect(answer.json?["response"]?["event"]?["context"]?["data"] == ["viewports": []])
            let silent = try await server.get("/api/hub/cast-get?subscriber=OHIF-ABC123&dataType=SCENEVIEW")
            #expect(silent.json?["response"]?["error"]?.stringValue?.contains("Timeout") == true)
            let nobody = try await server.get("/api/hub/cast-get?subscriber=nobody&dataType=X")
            #expect(nobody.json?["exists"] == false)
            #expect(try await server.get("/api/hub/cast-get?dataType=X").status == 400)
        }
    }

    @Test("Generation B: client_credentials gets a token with user_name and subscriber_name")
    func legacyClientCredentials() async throws {
        try await TestServer.with { server in
            let token = try await Self.form(server, "/oauth/token", "grant_type=client_credentials&client_id=ohif&client_secret=x&client_product_name=OHIF%20Viewer")
            #expect(token.status == 200)
            #expect(token.json?["user_name"]?.stringValue?.hasPrefix("USER-") == true)
            #expect(token.json?["subscriber_name"]?.stringValue?.hasPrefix("OHIFViewer-") == true)
            #expect(token.json?["topic"] == token.json?["user_name"])
            #expect(Self.claims(token.json?["access_token"]?.stringValue ?? "")?["iss"] == "cast-hub")
        }
    }

    @Test("WebSub channel: the secret is the challenge; signed deliveries; a failed verification is a 400 and nothing is stored")
    func webSub() async throws {
        try await CallbackServer.with { cb in
            try await TestServer.with { server in
                let body = "hub.mode=subscribe&hub.channel.type=websub&hub.topic=T&hub.events=annotation-update&subscriber.name=Hook&hub.secret=s3cr3t&hub.callback=\(TestServer.formEncode(cb.url))"
                let result = try await Self.form(server, "/api/hub", body)
                #expect(result.status == 202)
                #expect(result.json?["status"] == "subscribed")
                #expect(!result.body.contains("s3cr3t"))
                let q = try #require(cb.snapshot().verifications.first)
                #expect(q["hub.challenge"] == "s3cr3t" && q["hub.topic"] == "T" && q["existing"] == "1")
                _ = try await server.castPost(Self.event("annotation-update", topic: "T", from: "Slicer"))
                #expect(await cb.wait { !$0.deliveries.isEmpty })
                let d = try #require(cb.snapshot().deliveries.first)
                #expect(d.signature == "sha256=" + CallbackServer.hmac(d.body, secret: "s3cr3t"))
                #expect(d.json?["event"]?["hub.event"] == "annotation-update")

                cb.state.withLock { $0.verifyMode = .wrongBody }
                let refused = try await Self.form(server, "/api/hub", body.replacingOccurrences(of: "Hook", with: "Hook2"))
                #expect(refused.status == 400)
                #expect(refused.json == ["detail": "WebSub verification failed"])
                #expect(try await server.get("/api/hub/admin/snapshot").json?["stats"]?["total_subscriptions"] == 1)
            }
        }
    }

    @Test("Text frames only: a binary frame ends the Cast socket and removes its subscription; so does an oversized frame")
    func binaryAndOversizedFrames() async throws {
        try await TestServer.with({ $0.maxBodyBytes = 4096 }) { server in
            let (watcher, _) = try await server.castSubscriber(topic: "T", events: "subscription-removed", name: "Watcher")
            let (binary, _) = try await server.castSubscriber(topic: "T", events: "*", name: "Binary")
            binary.sendBinary([1, 2, 3])
            #expect(await binary.waitForClose(timeout: .seconds(3)).code != nil)
            #expect(try await watcher.nextJSON()?["subscriber.name"] == "Binary")
            let (big, _) = try await server.castSubscriber(topic: "T", events: "*", name: "Big")
            big.send(String(repeating: "x", count: 10_000))
            #expect(await big.waitForClose(timeout: .seconds(3)).code != nil)
            #expect(try await watcher.nextJSON()?["subscriber.name"] == "Big")
            // A bare OPTIONS is 204, as on the reference.
            #expect(try await TestServer.request(.OPTIONS, "\(server.base)/api/hub").status == 204)
        }
    }

    @Test("Single-user mode by flag; unsubscribing an unknown subscription removes nothing and tells nobody")
    func singleUserFlagAndUnknownUnsubscribe() async throws {
        try await TestServer.with({ $0.castSingleUser = true }) { server in
            let auth = try await Self.form(server, "/oauth/authorize", "user_name=dave&topic=elsewhere")
            #expect(auth.json?["user_name"] == "SINGLE-USER")
            let (watcher, _) = try await server.castSubscriber(topic: "T", events: "subscription-removed", name: "Watcher")
            let unknown = try await server.castPost(["hub.mode": "unsubscribe", "hub.channel.endpoint": "ws://x/bind/no-such-endpoint"])
            #expect(unknown.status == 200)
            #expect(unknown.json == ["status": "unsubscribed", "removed": 0])
            #expect(await watcher.expectSilence(.milliseconds(300)) == nil)
        }
    }
}
