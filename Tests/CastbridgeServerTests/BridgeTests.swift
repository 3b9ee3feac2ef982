import CastClient
import BridgeService
import BridgeCore
import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOHTTP1
import TestSupport
import Testing

/// FHIRcast client ⇄ castbridge ⇄ Cast hub ⇄ Cast client, live (issue #4).
@Suite("Bridge (live)")
struct BridgeTests {
    static func bridged(_ c: inout ServerConfiguration) {
        c.bridgeEnabled = true
        c.bridgeName = "castbridge"
    }

    static let study: JSONValue = ["key": "study", "resource": ["resourceType": "ImagingStudy", "id": "s1"]]

    static func castEvent(_ name: String, topic: String, from: String, id: String = UUID().uuidString, context: JSONValue, extra: [String: JSONValue] = [:]) -> JSONValue {
        var root: [String: JSONValue] = [
            "timestamp": "2026-11-22T10:00:00Z", "id": .string(id), "subscriber.name": .string(from),
            "event": ["hub.topic": .string(topic), "hub.event": .string(name), "context": context],
        ]
        for (k, v) in extra { root[k] = v }
        return .object(root)
    }

    /// Waits until the bridge reports itself subscribed on its Cast hub.
    static func waitForBridge(_ server: TestServer, connected: Bool = true, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await server.get("/health").json?["bridge"]?["connected"] == .bool(connected) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("the bridge did not become connected=\(connected)")
    }

    @Test("FHIRcast → Cast: a catalog event reaches a Cast app lower-cased, id and timestamp kept, from the bridge; FHIRcast gets it once")
    func fhircastToCast() async throws {
        try await TestServer.with(Self.bridged) { server in
            try await Self.waitForBridge(server)
            let (viewer, _) = try await server.castSubscriber(topic: "T", events: "imagingstudy-open", name: "Viewer")
            let ehr = try await server.subscriber(topic: "T", events: "ImagingStudy-open", name: "EHR")
            let sent = Events.notification("ImagingStudy-open", topic: "T", id: "evt-1", timestamp: "2026-11-22T10:00:00.14Z", context: [Self.study])
            #expect(try await server.publish(sent).status == 200)
            let got = try #require(try await viewer.nextJSON())
            #expect(got["id"] == "evt-1")
            #expect(got["timestamp"] == "2026-11-22T10:00:00.14Z")
            #expect(got["event"]?["hub.event"] == "imagingstudy-open")
            #expect(got["event"]?["context"] == [Self.study])
            #expect(got["subscriber.name"] == "castbridge")
            let fhir = try #require(try await ehr.socket.nextJSON())
            #expect(fhir["id"] == "evt-1")
            #expect(await ehr.socket.expectSilence() == nil)  // the bridge never re-delivers its own publish
            #expect(await viewer.expectSilence(.milliseconds(200)) == nil)
        }
    }

    @Test("Cast → FHIRcast: catalog name, id kept, host stripped, Cast fields in the extension; the Cast publisher gets no echo")
    func castToFHIRcast() async throws {
        try await TestServer.with(Self.bridged) { server in
            try await Self.waitForBridge(server)
            let (viewer, _) = try await server.castSubscriber(topic: "T", events: "imagingstudy-open", name: "Viewer")
            let ehr = try await server.subscriber(topic: "T", events: "ImagingStudy-open,org.castbridge.annotation_update", name: "EHR")
            let sent = Self.castEvent(
                "imagingstudy-open", topic: "T", from: "Viewer", id: "PYCAST-1", context: [Self.study],
                extra: ["subscriber.product.name": "VolView", "subscriber.actor": "ID", "timestamp": "2026-11-22T11:00:00+01:00"])
            #expect(try await server.castPost(sent).status == 200)
            let got = try #require(try await ehr.socket.nextJSON())
            #expect(got["id"] == "PYCAST-1")
            #expect(got["timestamp"] == "2026-11-22T10:00:00Z")
            #expect(got["event"]?["hub.event"] == "ImagingStudy-open")
            let context = try #require(got["event"]?["context"]?.arrayValue)
            #expect(context.first == Self.study)
            #expect(context.last?["data"]?["org.castbridge.cast"] == ["subscriber.name": "Viewer", "subscriber.product.name": "VolView", "subscriber.actor": "ID"])
            #expect(!"\(got)".contains("127.0.0.1"))  // Cast's injected host key is stripped
            #expect(await viewer.expectSilence() == nil)  // neither Cast's echo rule nor the bridge sends it back
            // The FHIRcast hub keeps it as current context.
            let current = try await server.get("/fhircast/STU3/T").json
            #expect(current?["context.type"] == "ImagingStudy")

            // A Cast-only event with an object context: a proprietary FHIRcast name, the object in the extension.
            _ = try await server.castPost(Self.castEvent("annotation-update", topic: "T", from: "Viewer", context: ["annotations": [1, 2]]))
            let annotation = try #require(try await ehr.socket.nextJSON())
            #expect(annotation["event"]?["hub.event"] == "org.castbridge.annotation_update")
            #expect(annotation["event"]?["context"]?.arrayValue?.first?["data"]?["org.castbridge.cast"]?["context"] == ["annotations": [1, 2]])
            let discovery = try await server.get("/fhircast/STU3/.well-known/fhircast-configuration").json
            #expect(discovery?["eventsSupported"]?.arrayValue?.contains("org.castbridge.annotation_update") == true)
        }
    }

    @Test("Target fields travel from the FHIRcast extension: target.actor routes to Cast apps of that role only")
    func targetActor() async throws {
        try await TestServer.with(Self.bridged) { server in
            try await Self.waitForBridge(server)
            let (display, _) = try await server.castSubscriber(topic: "T", events: "org.castbridge.status_update,status-update", name: "Display", actors: #"["ID"]"#)
            let (creator, _) = try await server.castSubscriber(topic: "T", events: "status-update", name: "Creator", actors: #"["EC"]"#)
            let ext: JSONValue = ["key": "extension", "data": ["org.castbridge.cast": ["target.actor": "ID", "context": ["message": "done", "level": "info"]]]]
            _ = try await server.publish(Events.notification("org.castbridge.status_update", topic: "T", context: [ext]))
            let got = try #require(try await display.nextJSON())
            #expect(got["event"]?["hub.event"] == "status-update")
            #expect(got["event"]?["context"] == ["message": "done", "level": "info"])
            #expect(got["target.actor"] == "ID")
            #expect(await creator.expectSilence() == nil)
        }
    }

    @Test("Cast status-request on a bridged topic is answered with the current FHIRcast context, as WORKLIST_CLIENT")
    func statusRequest() async throws {
        try await TestServer.with(Self.bridged) { server in
            try await Self.waitForBridge(server)
            // The Cast app is the topic's only listener: the topic exists for the EHR's publish through it.
            let (_, _) = try await server.castSubscriber(topic: "T", events: "status-request", name: "3DSLICER-ID")
            #expect(try await server.publish(Events.notification("ImagingStudy-open", topic: "T", context: [Self.study, Events.patient("p1")])).status == 200)
            let request: JSONValue = [
                "subscriber.name": "3DSLICER-ID", "id": "PYCAST-req", "subscriber.actor": "ID", "target.actor": "*",
                "event": ["hub.topic": "T", "hub.event": "status-request", "context": ["timeoutSeconds": 3]],
            ]
            let answer = try await server.castPost(request, path: "/api/hub/request").json
            #expect(answer?["expected"] == ["castbridge"])
            #expect(answer?["timedOut"] == false)
            let response = try #require(answer?["responses"]?.arrayValue?.first)
            #expect(response["actor"] == "WORKLIST_CLIENT")
            #expect(response["data"] == ["context.type": "ImagingStudy", "context": [Self.study, Events.patient("p1")]])
            // A topic with no FHIRcast context: an empty answer, at once.
            let other = try await server.castPost(
                ["subscriber.name": "3DSLICER-ID", "id": "r2", "event": ["hub.topic": "U", "hub.event": "status-request"]], path: "/api/hub/request").json
            #expect(other?["responses"]?.arrayValue?.first?["data"] == ["context.type": "", "context": []])
        }
    }

    @Test("POST {hub.url}/{topic}/request runs a Cast request and returns the collated Cast answer; bad bodies are 400 with the reason")
    func fhircastRequestEndpoint() async throws {
        try await TestServer.with(Self.bridged) { server in
            try await Self.waitForBridge(server)
            let (slicer, _) = try await server.castSubscriber(topic: "T", events: "status-request", name: "Slicer", actors: #"["ID"]"#)
            let responder = Task {
                guard let request = try await slicer.nextJSON(timeout: .seconds(5)) else { return }
                slicer.send([
                    "id": "env-1", "subscriber.name": "Slicer", "actor": "ID",
                    "event": ["hub.topic": "T", "hub.event": "status-response",
                        "context": ["id": request["event"]?["context"]?["id"] ?? .null, "dataType": "STATUS", "data": ["availability": "online"]]],
                ])
            }
            let answer = try await server.postJSON("/T/request", ["dataType": "STATUS", "target.actor": "ID", "timeoutSeconds": 3])
            try await responder.value
            #expect(answer.status == 200)
            #expect(answer.json?["expected"] == ["Slicer"])
            #expect(answer.json?["missing"] == [])
            #expect(answer.json?["responses"]?.arrayValue?.first?["data"] == ["availability": "online"])
            #expect(answer.json?["subscriber.name"] == "castbridge")

            let bad = try await server.postJSON("/T/request", ["timeoutSeconds": 3])
            #expect(bad.status == 400)
            #expect(bad.contentType.hasPrefix("text/plain"))
            #expect(bad.body.contains("missing 'dataType'"))
            let tooLong = try await server.postJSON("/T/request", ["dataType": "STATUS", "timeoutSeconds": 900])
            #expect(tooLong.status == 400 && tooLong.body.contains("at most 300"))
        }
    }

    @Test("A custom event and a custom forwarded request verb, added by a mapping file only")
    func customMappingFile() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("castbridge-mappings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try DefaultMappings.yaml.write(to: dir.appendingPathComponent("default.yaml"), atomically: true, encoding: .utf8)
        try """
            events:
              - fhircast: com.example.viewer_sync
                cast: viewer-sync
            requests:
              - dataType: REPORTTEXT
                action: forward
                fhircast: com.example.reporttext_request
                actor: REPORTING
            """.write(to: dir.appendingPathComponent("site.yaml"), atomically: true, encoding: .utf8)
        let mappings = try MappingDirectory.load(dir.path).mappings
        try await TestServer.with({ Self.bridged(&$0); $0.mappings = mappings }) { server in
            try await Self.waitForBridge(server)
            let reporter = try await server.subscriber(topic: "T", events: "com.example.viewer_sync,com.example.reporttext_request", name: "Reporter")
            let (viewer, _) = try await server.castSubscriber(topic: "T", events: "viewer-sync", name: "Viewer")
            // The custom event, both ways.
            _ = try await server.castPost(Self.castEvent("viewer-sync", topic: "T", from: "Viewer", context: ["slice": 12]))
            let synced = try #require(try await reporter.socket.nextJSON())
            #expect(synced["event"]?["hub.event"] == "com.example.viewer_sync")
            reporter.socket.ack(synced["id"]?.stringValue ?? "")
            _ = try await server.publish(Events.notification("com.example.viewer_sync", topic: "T", context: [["key": "extension", "data": ["org.castbridge.cast": ["context": ["slice": 13]]]]]))
            let back = try #require(try await viewer.nextJSON())
            #expect(back["event"]?["hub.event"] == "viewer-sync")
            #expect(back["event"]?["context"] == ["slice": 13])
            _ = try await reporter.socket.nextJSON()  // its own event, from the FHIRcast hub

            // The custom request verb: forwarded to the FHIRcast app, its reply relayed to the Cast requester.
            let request = Task {
                try await server.castPost(
                    ["subscriber.name": "Viewer", "id": "ask-1", "event": ["hub.topic": "T", "hub.event": "reporttext-request", "context": ["timeoutSeconds": 5]]],
                    path: "/api/hub/request")
            }
            let forwarded = try #require(try await reporter.socket.nextJSON(timeout: .seconds(5)))
            #expect(forwarded["event"]?["hub.event"] == "com.example.reporttext_request")
            let ask = forwarded["event"]?["context"]?.arrayValue?.first?["data"]?["org.castbridge.cast"]
            #expect(ask?["subscriber.name"] == "Viewer")
            let correlation = try #require(ask?["context"]?["id"]?.stringValue)
            #expect(correlation == "ask-1")
            let reply = try await server.postJSON("/T/response", ["id": .string(correlation), "data": ["text": "No acute findings."]])
            #expect(reply.status == 200)
            let answer = try await request.value.json
            #expect(answer?["responses"]?.arrayValue?.first?["data"] == ["text": "No acute findings."])
            #expect(answer?["responses"]?.arrayValue?.first?["actor"] == "REPORTING")
            // A second reply, an unknown id, a bad body: each told clearly.
            #expect(try await server.postJSON("/T/response", ["id": .string(correlation), "data": 1]).status == 409)
            let unknown = try await server.postJSON("/T/response", ["id": "nope", "data": 1])
            #expect(unknown.status == 404 && unknown.body.contains("no Cast request 'nope'"))
            #expect(try await server.postJSON("/T/response", ["data": 1]).body.contains("missing 'id'"))
        }
    }

    @Test("Upstream down: an event that waits too long, or does not fit in the queue, gets its publisher a SyncError")
    func upstreamDown() async throws {
        try await TestServer.with({
            Self.bridged(&$0)
            $0.castHubURL = "http://127.0.0.1:1"  // nothing listens
            $0.bridgeQueueLimit = 2
            // Long enough that e1 and e2 still wait when e3 comes, even on a loaded machine.
            $0.bridgeQueueMaxWaitSeconds = 1.5
            $0.bridgeReconnectBaseSeconds = 0.05
            $0.bridgeReconnectMaxSeconds = 0.2
            $0.hub.ackTimeoutSeconds = 0
        }) { server in
            let ehr = try await server.subscriber(topic: "T", events: "Patient-open,SyncError", name: "EHR")
            let other = try await server.subscriber(topic: "T", events: "Patient-open,SyncError", name: "PACS")
            var first = Events.patientOpen(topic: "T", id: "e1")
            if case .object(var o) = first { o["subscriber.name"] = "EHR"; first = .object(o) }
            #expect(try await server.publish(first).status == 200)
            #expect(try await server.publish(Events.patientOpen(topic: "T", id: "e2")).status == 200)
            var third = Events.patientOpen(topic: "T", id: "e3")
            if case .object(var o) = third { o["subscriber.name"] = "EHR"; third = .object(o) }
            #expect(try await server.publish(third).status == 200)
            // e3 did not fit: its publisher is told at once, the others are not.
            var ehrFrames: [JSONValue] = []
            while let f = try await ehr.socket.nextJSON(timeout: .seconds(3)) { ehrFrames.append(f) }
            let errors = ehrFrames.filter { $0["event"]?["hub.event"] == "SyncError" }
            let failedIDs = errors.compactMap { $0["event"]?["context"]?.arrayValue?.first?["resource"]?["issue"]?.arrayValue?.first?["details"]?["coding"]?.arrayValue?.first?["code"]?.stringValue }
            // e3 overflowed; e1 waited too long; e2 (no publisher named) goes to every SyncError subscriber.
            #expect(failedIDs.sorted() == ["e1", "e2", "e3"])
            #expect(errors.first { "\($0)".contains("already waiting") } != nil)
            #expect(errors.first { "\($0)".contains("unreachable") } != nil)
            // e2 carried no subscriber.name: the session's SyncError subscribers learn of it.
            var pacsErrors: [JSONValue] = []
            while let f = try await other.socket.nextJSON(timeout: .seconds(3)) {
                if f["event"]?["hub.event"] == "SyncError" { pacsErrors.append(f) }
            }
            #expect(pacsErrors.count == 1)
            #expect("\(pacsErrors)".contains("e2"))
            let health = try await server.get("/health").json
            #expect(health?["bridge"]?["connected"] == false)
            #expect(health?["bridge"]?["refused"] == 2)  // e1 and e2: waited too long
            #expect(health?["bridge"]?["overflowed"] == 1)  // e3
        }
    }

    /// A mock-OAuth token from a Cast hub, for test clients of a hub that requires one.
    static func token(_ base: String) async throws -> String {
        let code = try await TestServer.request(.POST, "\(base)/oauth/authorize", body: "user_name=viewer", contentType: "application/x-www-form-urlencoded")
        let codeValue = try #require(code.json?["code"]?.stringValue)
        let token = try await TestServer.request(.POST, "\(base)/oauth/token", body: "grant_type=authorization_code&code=\(codeValue)", contentType: "application/x-www-form-urlencoded")
        return try #require(token.json?["access_token"]?.stringValue)
    }

    @Test("An external Cast hub (a second castbridge process, auth required) stopped and restarted mid-stream: nothing lost, nothing duplicated, order kept")
    func externalHubRestart() async throws {
        let hubArguments = ["--cast-require-auth", "--no-bridge"]
        // Another port when the one chosen was taken before the child bound it; the restart reuses the one bound.
        let first = try await CastbridgeProcess.start(arguments: hubArguments)
        let port = first.port
        let hubBase = first.base
        // Without credentials the bridge cannot subscribe, and says why.
        try await TestServer.with({
            Self.bridged(&$0)
            $0.castHubURL = hubBase
            $0.bridgeReconnectBaseSeconds = 0.05
        }) { server in
            let deadline = ContinuousClock.now + .seconds(10)
            var health = try await server.get("/health").json
            while health?["bridge"]?["lastError"] == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                health = try await server.get("/health").json
            }
            #expect(health?["bridge"]?["connected"] == false)
            #expect(health?["bridge"]?["lastError"]?.stringValue?.contains("401") == true)
        }
        // The bridge reaches the hub through a gate, so that the test decides when it can reconnect: after the
        // restarted hub's Cast client has subscribed (Cast hubs keep nothing for late subscribers).
        let gate = try await TCPGate.start(backend: port)
        try await TestServer.with({
            Self.bridged(&$0)
            $0.castHubURL = "http://127.0.0.1:\(gate.port)/api/hub"
            $0.castAuth = .mockOAuth(user: "bridge")
            $0.bridgeReconnectBaseSeconds = 0.1
            $0.bridgeReconnectMaxSeconds = 0.5
            $0.hub.ackTimeoutSeconds = 0
        }) { server in
            try await Self.waitForBridge(server)
            let island = try await TestServer.request(.POST, "\(server.base)/api/hub", body: "hub.mode=subscribe", contentType: "application/x-www-form-urlencoded")
            #expect(island.status == 404 && island.body.contains("connect Cast apps to that hub"))
            let ehr = try await server.subscriber(topic: "T", events: "Patient-open", name: "EHR")
            var (viewer, _) = try await TestServer.castSubscriber(
                base: hubBase, topic: "T", events: "patient-open", name: "Viewer", bearer: try await Self.token(hubBase))
            _ = try await server.publish(Events.patientOpen(topic: "T", id: "e1"))
            #expect(try await viewer.nextJSON()?["id"] == "e1")
            // Cast → FHIRcast through the external hub too.
            let castPublish = try await TestServer.request(
                .POST, "\(hubBase)/api/hub",
                body: String(decoding: try JSONEncoder().encode(Self.castEvent("patient-open", topic: "T", from: "Viewer", id: "c1", context: [Events.patient("p9")])), as: UTF8.self),
                contentType: "application/json", bearer: try await Self.token(hubBase))
            #expect(castPublish.status == 200)
            var seen: [String] = []
            while let f = try await ehr.socket.nextJSON(timeout: .seconds(1)) { seen.append(f["id"]?.stringValue ?? "") }
            #expect(seen == ["e1", "c1"])

            gate.shut()
            await first.stopAndWait()
            // Published while the bridge knows the hub is gone. (An event sent at the very moment a hub dies may or
            // may not have been taken: the bridge reports it to its publisher with a SyncError rather than risk a
            // duplicate; upstreamDown covers that path.)
            try await Self.waitForBridge(server, connected: false)
            for id in ["e2", "e3", "e4"] {
                #expect(try await server.publish(Events.patientOpen(topic: "T", patient: id, id: id)).status == 200)
            }
            let second = try await CastbridgeProcess.start(port: port, arguments: hubArguments)
            (viewer, _) = try await TestServer.castSubscriber(
                base: hubBase, topic: "T", events: "patient-open", name: "Viewer", bearer: try await Self.token(hubBase))
            gate.open(to: port)
            var got: [String] = []
            while got.count < 3, let f = try await viewer.nextJSON(timeout: .seconds(10)) { got.append(f["id"]?.stringValue ?? "") }
            #expect(got == ["e2", "e3", "e4"])
            #expect(await viewer.expectSilence() == nil)
            _ = try await server.publish(Events.patientOpen(topic: "T", id: "e5"))
            #expect(try await viewer.nextJSON()?["id"] == "e5")
            await second.stopAndWait()
        }
        await gate.stop()
    }

    @Test("Generation B dialect: client_credentials, publish to /api/hub/{topic} with hub.source, get-request answered, cast-get from FHIRcast; the bind URL rebased")
    func dialectB() async throws {
        // The hub advertises an address the bridge cannot reach: only rebasing onto the configured host works.
        let hub = try await TestServer.start { $0.publicURL = "https://cast.example.invalid" }
        let hubBase = hub.server.base
        try await TestServer.with({
            Self.bridged(&$0)
            $0.castHubURL = hubBase
            $0.castDialect = .b
            $0.castAuth = .clientCredentials(tokenURL: hubBase + "/oauth/token", clientID: "castbridge", clientSecret: "s")
        }) { server in
            try await Self.waitForBridge(server)
            let (viewer, _) = try await hub.server.castSubscriber(topic: "T", events: "imagingstudy-open,get-request", name: "Viewer")
            _ = try await server.publish(Events.notification("ImagingStudy-open", topic: "T", id: "b1", context: [Self.study]))
            let got = try #require(try await viewer.nextJSON())
            #expect(got["id"] == "b1")
            #expect(got["event"]?["hub.source"] == "castbridge")
            // The publish made T exist for FHIRcast apps, so the bridge follows T on the hub (one subscription per topic).
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                let subs = try await hub.server.get("/api/hub/admin/snapshot").json?["subscriptions"]?.arrayValue ?? []
                if subs.contains(where: { $0["subscriber"] == "castbridge" && $0["topic"] == "T" && $0["connected"] == true }) { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            // A generation B requester asks the bridge by name.
            let castGet = try await hub.server.get("/api/hub/cast-get?subscriber=castbridge&dataType=STATUS&topic=T").json
            #expect(castGet?["response"]?["event"]?["hub.event"] == "get-response")
            #expect(castGet?["response"]?["event"]?["context"]?["data"]?["context.type"] == "ImagingStudy")
            // The FHIRcast side asks a generation B app, which answers get-response.
            let responder = Task {
                guard let request = try await viewer.nextJSON(timeout: .seconds(5)) else { return }
                viewer.send([
                    "event": ["hub.topic": "T", "hub.event": "get-response",
                        "context": ["requestId": request["event"]?["context"]?["requestId"] ?? .null, "dataType": "SCENEVIEW", "data": ["layout": "four-up"]]],
                ])
            }
            let answer = try await server.postJSON("/T/request", ["dataType": "SCENEVIEW", "target.subscriber.name": "Viewer"])
            try await responder.value
            #expect(answer.status == 200)
            #expect(answer.json?["responses"]?.arrayValue?.first?["data"] == ["layout": "four-up"])
            let noTarget = try await server.postJSON("/T/request", ["dataType": "SCENEVIEW"])
            #expect(noTarget.status == 400 && noTarget.body.contains("target.subscriber.name"))
        }
        try await hub.stop()
    }
}
