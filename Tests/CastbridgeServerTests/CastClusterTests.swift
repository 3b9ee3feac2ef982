import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOHTTP1
import StateStores
import Testing
import TestSupport

/// Issue #19's cluster for the embedded Cast hub: two castbridges on one PostgreSQL database, live.
@Suite("Cast hub cluster on PostgreSQL (live)", .serialized, .enabled(if: TestPostgres.enabled, "set CASTBRIDGE_TEST_POSTGRES (scripts/test-postgres.sh start)"))
struct CastClusterTests {
    static func event(_ name: String, topic: String, from: String, id: String = UUID().uuidString) -> JSONValue {
        ["id": .string(id), "subscriber.name": .string(from), "event": ["hub.topic": .string(topic), "hub.event": .string(name), "context": ["n": .string(id)]]]
    }

    /// The socket URL of an endpoint answered by `from`, on node `to` (as a load balancer may send it).
    static func onNode(_ endpoint: String, from: TestServer, to: TestServer) -> String {
        endpoint.replacingOccurrences(of: "127.0.0.1:\(from.port)", with: "127.0.0.1:\(to.port)")
    }

    @Test("Cast publishes across nodes: a Cast app's event taken by either node reaches the subscribers of its topic and the * subscribers on both, once, with echo suppression and target filters as on one node")
    func publishAcrossNodes() async throws {
        try await ClusterTests.withTwoNodes { a, b, _ in
            let (onA, _) = try await a.castSubscriber(topic: "T", events: "annotation-update", name: "ViewerA")
            let (onB, _) = try await b.castSubscriber(topic: "T", events: "annotation-update", name: "ViewerB", actors: "[\"ID\"]")
            let (monitor, _) = try await b.castSubscriber(topic: "*", events: "annotation-update", name: "Monitor")
            #expect(try await a.castPost(Self.event("annotation-update", topic: "T", from: "Slicer", id: "1")).status == 200)
            #expect(try await b.castPost(Self.event("annotation-update", topic: "T", from: "ViewerA", id: "2")).status == 200)
            for socket in [onB, monitor] {
                #expect(try await socket.nextJSON(timeout: .seconds(5))?["id"] == "1")
                #expect(try await socket.nextJSON(timeout: .seconds(5))?["id"] == "2")
            }
            #expect(try await onA.nextJSON(timeout: .seconds(5))?["id"] == "1")
            // Its own event (echo suppression by subscriber.name) does not come back across nodes either.
            #expect(await onA.expectSilence(.milliseconds(300)) == nil)
            var targeted = Self.event("annotation-update", topic: "T", from: "X", id: "3").objectValue!
            targeted["target.actor"] = "ID"
            #expect(try await a.castPost(.object(targeted)).status == 200)
            #expect(try await onB.nextJSON(timeout: .seconds(5))?["id"] == "3")
            #expect(await onA.expectSilence(.milliseconds(300)) == nil)
            #expect(await monitor.expectSilence(.milliseconds(100)) == nil)  // no actor ID
            #expect(await onB.expectSilence(.milliseconds(100)) == nil)  // each once
        }
    }

    @Test("One order for a Cast topic across nodes: events published to both nodes at once reach the subscribers of both in the same order, each once")
    func oneOrder() async throws {
        try await ClusterTests.withTwoNodes { a, b, _ in
            let (onA, _) = try await a.castSubscriber(topic: "O", events: "*", name: "OnA")
            let (onB, _) = try await b.castSubscriber(topic: "O", events: "*", name: "OnB")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (node, prefix) in [(a, "a"), (b, "b")] {
                    group.addTask {
                        for i in 0..<40 {
                            let result = try await node.castPost(Self.event("measurement-update", topic: "O", from: "P", id: "\(prefix)\(i)"))
                            #expect(result.status == 200)
                        }
                    }
                }
                try await group.waitForAll()
            }
            var seen: [[String]] = [[], []]
            for (index, socket) in [onA, onB].enumerated() {
                while seen[index].count < 80, let frame = try await socket.nextJSON(timeout: .seconds(5)) {
                    seen[index].append(frame["id"]?.stringValue ?? "?")
                }
            }
            #expect(seen[0].count == 80)
            #expect(Set(seen[0]).count == 80)
            #expect(seen[0] == seen[1])
            // Each node's own events in the order it took them.
            #expect(seen[0].filter { $0.hasPrefix("a") } == (0..<40).map { "a\($0)" })
        }
    }

    @Test("A Cast subscribe answered by node A whose socket binds on node B gets events from both; an unsubscribe sent to A closes the socket B holds, and the peers on both nodes get subscription-removed")
    func subscribeHereBindThere() async throws {
        try await ClusterTests.withTwoNodes { a, b, _ in
            let (watcher, _) = try await a.castSubscriber(topic: "M", events: "subscription-removed", name: "Watcher")
            let form = FormBody.encode([("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "M"), ("hub.events", "*"), ("subscriber.name", "Mover")])
            let answer = try await TestServer.request(.POST, "\(a.base)/api/hub", body: form, contentType: "application/x-www-form-urlencoded")
            let endpoint = try #require(answer.json?["hub.channel.endpoint"]?.stringValue)
            let moved = try await TestSocket.connect(Self.onNode(endpoint, from: a, to: b))
            #expect(try await moved.nextJSON()?["type"] == "connection.established")
            #expect(try await a.castPost(Self.event("patient-open", topic: "M", from: "EHR", id: "via-a")).status == 200)
            #expect(try await moved.nextJSON(timeout: .seconds(5))?["id"] == "via-a")
            #expect(try await b.castPost(Self.event("patient-open", topic: "M", from: "EHR", id: "via-b")).status == 200)
            #expect(try await moved.nextJSON(timeout: .seconds(5))?["id"] == "via-b")
            // Node A's snapshot shows it bound (on B).
            let listed = try await a.get("/api/hub/admin/snapshot").json?["subscriptions"]?.arrayValue ?? []
            #expect(listed.contains { $0["subscriber"] == "Mover" })
            let un = try await a.castPost(["hub.mode": "unsubscribe", "hub.channel.endpoint": .string(endpoint)])
            #expect(un.json == ["status": "unsubscribed", "removed": 1])
            #expect(await moved.next(timeout: .seconds(5)) == .closed(1000))
            let notice = try #require(try await watcher.nextJSON(timeout: .seconds(5)))
            #expect(notice["event"]?["context"] == ["reason": "unsubscribe", "subscriber": "Mover"])
        }
    }

    @Test("Cast requests across nodes: a request taken by node A reaches a responder whose socket is on node B, and its response comes back to A's collation; cast-get likewise")
    func requestAcrossNodes() async throws {
        try await ClusterTests.withTwoNodes { a, b, _ in
            let (slicer, _) = try await b.castSubscriber(topic: "R", events: "status-request", name: "Slicer", actors: "[\"ID\"]")
            let (_, _) = try await a.castSubscriber(topic: "R", events: "*", name: "Asker")
            let responder = Task {
                guard let frame = try await slicer.nextJSON(timeout: .seconds(5)) else { return }
                let cid = frame["event"]?["context"]?["id"] ?? .null
                slicer.send(["id": "resp-1", "subscriber.name": "Slicer", "actor": "ID", "event": ["hub.topic": "R", "hub.event": "status-response", "context": ["id": cid, "dataType": "STATUS", "data": ["availability": "online"]]]])
            }
            let result = try await a.castPost(
                ["subscriber.name": "Asker", "id": "corr-x", "event": ["hub.topic": "R", "hub.event": "status-request", "context": ["dataType": "STATUS", "timeoutSeconds": 5]]],
                path: "/api/hub/request")
            try await responder.value
            let body = try #require(result.json)
            #expect(body["ok"] == true)
            #expect(body["expected"] == ["Slicer"])
            #expect(body["responses"]?.arrayValue?.first?["data"] == ["availability": "online"])
            // Generation B's cast-get, asked of node A, answered on node B.
            let getter = Task {
                guard let frame = try await slicer.nextJSON(timeout: .seconds(5)) else { return }
                let requestId = frame["event"]?["context"]?["requestId"] ?? .null
                slicer.send(["event": ["hub.topic": "R", "hub.event": "get-response", "context": ["requestId": requestId, "data": "scene"]]])
            }
            let got = try await a.get("/api/hub/cast-get?subscriber=Slicer&dataType=SCENEVIEW&topic=R")
            try await getter.value
            #expect(got.json?["connected"] == true)
            #expect(got.json?["response"]?["event"]?["context"]?["data"] == "scene")
        }
    }

    @Test("Conferences across nodes: one created on node A starts on sockets on node B, events cross participant topics between nodes, and node B lists it; ending it on B reaches A's sockets")
    func conferenceAcrossNodes() async throws {
        try await ClusterTests.withTwoNodes { a, b, _ in
            let (host, _) = try await a.castSubscriber(topic: "HOST", events: "annotation-update", name: "HostViewer")
            let (attendee, _) = try await b.castSubscriber(topic: "A1", events: "patient-open", name: "AttendeeViewer")
            let created = try await a.castPost(["hostTopic": "HOST", "title": "Tumor board", "topics": ["A1"]], path: "/api/hub/conference")
            #expect(created.json?["status"] == "created")
            for socket in [host, attendee] {
                let start = try #require(try await socket.nextJSON(timeout: .seconds(5)))
                #expect(start["event"]?["hub.event"] == "conference-start")
                #expect(start["event"]?["context"]?["participants"] == ["HostViewer", "AttendeeViewer"])
            }
            #expect(try await b.get("/api/hub/conference").json?.arrayValue?.first?["hostTopic"] == "HOST")
            #expect(try await a.castPost(Self.event("annotation-update", topic: "HOST", from: "HostViewer", id: "x")).status == 200)
            #expect(try await attendee.nextJSON(timeout: .seconds(5))?["id"] == "x")
            let ended = try await TestServer.request(.DELETE, "\(b.base)/api/hub/conference", body: "{\"hostTopic\":\"HOST\"}", contentType: "application/json")
            #expect(ended.json == ["removed": 1, "updated": 0])
            #expect(try await host.nextJSON(timeout: .seconds(5))?["event"]?["context"]?["reason"] == "host-ended")
            #expect(try await a.get("/api/hub/conference").json == [])
        }
    }

    @Test("Cast WebSub in a cluster: a subscription taken by node A is posted to once per event, whichever node took the event; it survives a restart of every node")
    func webSubOnce() async throws {
        try await TestPostgres.withDatabase { address in
            try await CallbackServer.with { cb in
                let cluster = ClusterTests.onPostgres(address)
                let body = "hub.mode=subscribe&hub.channel.type=websub&hub.topic=W&hub.events=annotation-update&subscriber.name=Hook&hub.secret=s3cr3t&hub.callback=\(TestServer.formEncode(cb.url))"
                try await TestServer.with(cluster) { a in
                    try await TestServer.with(cluster) { b in
                        let subscribed = try await CastHubTests.form(a, "/api/hub", body)
                        #expect(subscribed.status == 202)
                        #expect(try await a.castPost(Self.event("annotation-update", topic: "W", from: "S", id: "1")).status == 200)
                        #expect(try await b.castPost(Self.event("annotation-update", topic: "W", from: "S", id: "2")).status == 200)
                        #expect(await cb.wait { $0.deliveries.count == 2 })
                    }
                }
                try await TestServer.with(cluster) { a in
                    try await TestServer.with(cluster) { b in
                        let published = try await b.castPost(Self.event("annotation-update", topic: "W", from: "S", id: "3"))
                        #expect(published.status == 200)
                        #expect(await cb.wait { $0.deliveries.count == 3 })
                        try await Task.sleep(for: .milliseconds(300))
                        #expect(cb.snapshot().deliveries.compactMap { $0.json?["id"]?.stringValue } == ["1", "2", "3"])
                        _ = a
                    }
                }
            }
        }
    }

    @Test("A Cast publish larger than PostgreSQL's 8,000-byte notification crosses nodes by reference, whole")
    func largeCastEvent() async throws {
        try await ClusterTests.withTwoNodes { a, b, _ in
            let (onB, _) = try await b.castSubscriber(topic: "L", events: "*", name: "OnB")
            let big = String(repeating: "x", count: 40_000)
            let event: JSONValue = ["id": "big", "subscriber.name": "P", "event": ["hub.topic": "L", "hub.event": "annotation-update", "context": ["blob": .string(big)]]]
            #expect(try await a.castPost(event).status == 200)
            let got = try #require(try await onB.nextJSON(timeout: .seconds(5)))
            #expect(got["event"]?["context"]?["blob"]?.stringValue?.count == 40_000)
        }
    }
}

extension CastClusterTests {
    @Test("The bridge in a cluster with the embedded Cast hub: each node bridges the events its own hubs took, so a Cast app's event on node B reaches a FHIRcast app on node A once, and a FHIRcast app's event on node A reaches a Cast app on node B once")
    func bridgeOnEveryNode() async throws {
        try await TestPostgres.withDatabase { address in
            let bridged: (inout ServerConfiguration) -> Void = {
                ClusterTests.onPostgres(address)(&$0)
                BridgeTests.bridged(&$0)
            }
            try await TestServer.with(bridged) { a in
                try await TestServer.with(bridged) { b in
                    try await BridgeTests.waitForBridge(a)
                    try await BridgeTests.waitForBridge(b)
                    let ehr = try await a.subscriber(topic: "T", events: "ImagingStudy-open", name: "EHR")
                    let (viewer, _) = try await b.castSubscriber(topic: "T", events: "imagingstudy-open", name: "Viewer")
                    let fromCast = BridgeTests.castEvent("imagingstudy-open", topic: "T", from: "Slicer", id: "cast-1", context: [BridgeTests.study])
                    let published = try await b.castPost(fromCast)
                    #expect(published.status == 200)
                    #expect(try await ehr.socket.nextJSON(timeout: .seconds(5))?["id"] == "cast-1")
                    ehr.socket.ack("cast-1")
                    #expect(try await viewer.nextJSON(timeout: .seconds(5))?["id"] == "cast-1")
                    #expect(await ehr.socket.expectSilence(.milliseconds(500)) == nil)  // once, not once per node
                    let fromEHR = Events.notification("ImagingStudy-open", topic: "T", id: "fhir-1", context: [BridgeTests.study])
                    #expect(try await a.publish(fromEHR).status == 200)
                    #expect(try await viewer.nextJSON(timeout: .seconds(5))?["id"] == "fhir-1")
                    #expect(await viewer.expectSilence(.milliseconds(500)) == nil)
                }
            }
        }
    }
}

extension CastClusterTests {
    /// Waits until the node's bridge reports this role (and, as leader, its link).
    static func waitForRole(_ base: String, _ role: String, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let bridge = try? await TestServer.request(.GET, "\(base)/health").json?["bridge"]
            if bridge?["role"] == .string(role), role == "standby" || bridge?["connected"] == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("\(base) did not become \(role)")
    }

    @Test("An external Cast hub's link in a cluster: one node holds it and the other stands by, so a Cast event reaches FHIRcast once; the standby node's FHIRcast events still reach Cast; when the leader is killed with SIGKILL the other node holds the link within a few seconds and bridges the next event, once")
    func bridgeLinkFailover() async throws {
        try await TestPostgres.withDatabase { address in
            try await TestServer.with { hub in  // the external Cast hub: a castbridge with its bridge off
                let url = "postgres://\(address.user):\(address.password ?? "")@\(address.host):\(address.port)/\(address.database)"
                let doomed = try await CastbridgeProcess.start(arguments: ["--store", url, "--cast-hub", hub.base])
                try await Self.waitForRole(doomed.base, "leader")
                try await TestServer.with({
                    ClusterTests.onPostgres(address)(&$0)
                    BridgeTests.bridged(&$0)
                    $0.castHubURL = hub.base
                }) { survivor in
                    try await Self.waitForRole(survivor.base, "standby")
                    let ehr = try await survivor.subscriber(topic: "T", events: "ImagingStudy-open", name: "EHR")
                    let (viewer, _) = try await hub.castSubscriber(topic: "T", events: "imagingstudy-open", name: "Viewer")
                    // Cast → FHIRcast through the leader (the other node), once.
                    let fromCast = BridgeTests.castEvent("imagingstudy-open", topic: "T", from: "Slicer", id: "cast-1", context: [BridgeTests.study])
                    let published = try await hub.castPost(fromCast)
                    #expect(published.status == 200)
                    #expect(try await ehr.socket.nextJSON(timeout: .seconds(5))?["id"] == "cast-1")
                    ehr.socket.ack("cast-1")
                    #expect(try await viewer.nextJSON(timeout: .seconds(5))?["id"] == "cast-1")
                    #expect(await ehr.socket.expectSilence(.milliseconds(500)) == nil)
                    // FHIRcast → Cast from the standby node.
                    let fromEHR = Events.notification("ImagingStudy-open", topic: "T", id: "fhir-1", context: [BridgeTests.study])
                    #expect(try await survivor.publish(fromEHR).status == 200)
                    #expect(try await viewer.nextJSON(timeout: .seconds(5))?["id"] == "fhir-1")
                    _ = try await ehr.socket.nextJSON(timeout: .seconds(2))  // its own publish, delivered on FHIRcast
                    ehr.socket.ack("fhir-1")
                    // The leader dies; the survivor takes the link over.
                    let killed = ContinuousClock.now
                    await doomed.kill()
                    try await Self.waitForRole(survivor.base, "leader", timeout: .seconds(10))
                    #expect(ContinuousClock.now - killed < .seconds(5))
                    let after = BridgeTests.castEvent("imagingstudy-open", topic: "T", from: "Slicer", id: "cast-2", context: [BridgeTests.study])
                    let republished = try await hub.castPost(after)
                    #expect(republished.status == 200)
                    #expect(try await ehr.socket.nextJSON(timeout: .seconds(5))?["id"] == "cast-2")
                    ehr.socket.ack("cast-2")
                    #expect(await ehr.socket.expectSilence(.milliseconds(500)) == nil)
                }
            }
        }
    }
}

extension CastClusterTests {
    @Test("Binary batches across nodes: files uploaded through node A download whole through node B, chunk by chunk; the bridge's FHIRcast attachment links made on node A serve the same bytes through node B")
    func payloadsAcrossNodes() async throws {
        try await TestPostgres.withDatabase { address in
            let bridged: (inout ServerConfiguration) -> Void = {
                ClusterTests.onPostgres(address)(&$0)
                BridgeTests.bridged(&$0)
                $0.castPayloadChunkBytes = 1 << 20
            }
            try await TestServer.with(bridged) { a in
                try await TestServer.with(bridged) { b in
                    try await BridgeTests.waitForBridge(a)
                    let (viewer, _) = try await b.castSubscriber(topic: "T", events: "dicom-send", name: "Viewer")
                    let ehr = try await a.subscriber(topic: "T", events: "org.castbridge.dicom_send", name: "EHR")
                    let big = CastBinaryTests.randomBytes((2 << 20) + 99)  // three chunks of 1 MiB at most
                    let files: [JSONValue] = [["fileName": "series.dcm", "byteLength": .int(Int64(big.count)), "mimeType": "application/dicom"]]
                    let body = CastBinaryTests.batch(CastBinaryTests.envelope(files), parts: [("application/dicom", big)])
                    let uploaded = try await CastBinaryTests.upload(a, body)
                    #expect(uploaded.status == 200)
                    let frame = try #require(try await viewer.nextJSON(timeout: .seconds(10)))
                    let ids = frame["event"]?["context"]?["files"]?.arrayValue?.first?["payloadIds"]?.arrayValue?.compactMap(\.stringValue) ?? []
                    #expect(ids.count == 3)
                    var reassembled: [UInt8] = []
                    for id in ids {
                        let (status, bytes, headers) = try await CastBinaryTests.download(b, id)
                        #expect(status == 200)
                        #expect(headers.first(name: "Content-Type") == "application/dicom")
                        reassembled += bytes
                    }
                    #expect(reassembled == big)
                    // The bridge on node A described the files; its link serves them through node B too.
                    let event = try #require(try await ehr.socket.nextJSON(timeout: .seconds(10)))
                    let url = try #require(BridgeBinaryTests.attachments(event).first?["url"]?.stringValue)
                    #expect(url.hasPrefix("\(a.base)/fhircast/payloads/"))
                    let throughB = url.replacingOccurrences(of: a.base, with: b.base)
                    let (status, got, _) = try await BridgeBinaryTests.fetch(throughB)
                    #expect(status == 200)
                    #expect(got == big)
                    #expect(try await CastBinaryTests.download(b, "unknown").0 == 404)
                }
            }
        }
    }
}
