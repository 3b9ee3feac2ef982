import AccessCore
import AsyncHTTPClient
import CastbridgeServer
import FHIRcastCore
import FHIRcastService
import StateStores
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

/// Issue #14, live: `/health/live`, `/health/ready`, `/metrics` and the admin console's API on a real server.
@Suite("Operations: health, metrics, admin console API (live)")
struct OperationsTests {
    /// The value of one sample of `/metrics` (`name{labels}`), or nil when it is not there.
    static func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    static func metrics(_ server: TestServer) async throws -> String {
        let result = try await server.get("/metrics")
        #expect(result.status == 200)
        #expect(result.contentType.hasPrefix("text/plain"))
        return result.body
    }

    /// Polls `/metrics` until `series` reaches `value` (counts read from the hubs change as soon as they happen, but a
    /// delivery is counted on the hub's actor, which the test's socket does not wait for).
    static func until(_ server: TestServer, _ series: String, atLeast value: Double) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(10)
        var text = ""
        while ContinuousClock.now < deadline {
            text = try await metrics(server)
            if let v = sample(text, series), v >= value { return text }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("\(series) did not reach \(value):\n\(text)")
        return text
    }

    @Test("/health/live answers 200 while /health/ready says the store answers and the embedded bridge is connected")
    func liveAndReady() async throws {
        try await TestServer.with({ $0.bridgeEnabled = true }) { server in
            let live = try await server.get("/health/live")
            #expect(live.status == 200)
            #expect(live.json?["status"] == "live")
            var ready = try await server.get("/health/ready")
            // The bridge links to the embedded hub right after start.
            for _ in 0..<100 where ready.status != 200 {
                try await Task.sleep(for: .milliseconds(20))
                ready = try await server.get("/health/ready")
            }
            #expect(ready.status == 200)
            #expect(ready.json?["checks"]?["store"]?["status"] == "ok")
            #expect(ready.json?["checks"]?["bridge"]?["status"] == "ok")
        }
    }

    @Test("A store that does not answer makes /health/ready 503 with its error, and ready again once it answers; /health/live stays 200")
    func readyFollowsTheStore() async throws {
        struct Unreachable: Error, CustomStringConvertible { var description: String { "the database is unreachable" } }
        let store = MemoryHubStore()
        try await TestServer.with(store: store) { server in
            #expect(try await server.get("/health/ready").status == 200)
            await store.failCommits(with: Unreachable())
            let failing = try await server.get("/health/ready")
            #expect(failing.status == 503)
            #expect(failing.json?["checks"]?["store"]?["status"] == "failing")
            #expect(failing.json?["checks"]?["store"]?["error"] == "the database is unreachable")
            #expect(try await server.get("/health/live").status == 200)
            await store.failCommits(with: nil)
            #expect(try await server.get("/health/ready").status == 200)
        }
    }

    @Test("/health/ready asks a real SQLite store")
    func readyOnSQLite() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("castbridge-ready-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try await TestServer.with({ $0.store = .sqlite(path: folder.appendingPathComponent("s.sqlite").path) }) { server in
            let ready = try await server.get("/health/ready")
            #expect(ready.status == 200)
            #expect(ready.json?["checks"]?["store"]?["status"] == "ok")
        }
    }

    @Test("A bridge whose external Cast hub is down makes /health/ready 503 with the reason, and /health/live stays 200")
    func readyFollowsTheUpstream() async throws {
        let dead = try await LoopbackPort.free()
        try await TestServer.with({
            $0.bridgeEnabled = true
            $0.castHubURL = "http://127.0.0.1:\(dead)"
            $0.bridgeReconnectBaseSeconds = 0.05
            $0.bridgeReconnectMaxSeconds = 0.1
        }) { server in
            let ready = try await server.get("/health/ready")
            #expect(ready.status == 503)
            #expect(ready.json?["status"] == "not ready")
            #expect(ready.json?["checks"]?["bridge"]?["status"] == "failing")
            #expect(ready.json?["checks"]?["store"]?["status"] == "ok")
            #expect(try await server.get("/health/live").status == 200)
        }
    }

    @Test("/metrics counts publishes, deliveries and their latency, ACK latency, SyncErrors by cause and subscribers, and names no topic")
    func metricsCount() async throws {
        try await TestServer.with({ $0.hub.ackTimeoutSeconds = 2 }) { server in
            let topic = "ROOM-METRICS-7731"
            let (acking, _, _) = try await server.subscriber(topic: topic, events: "Patient-open", name: "acking")
            let (silent, _, _) = try await server.subscriber(topic: topic, events: "Patient-open", name: "silent")
            let event = Events.patientOpen(topic: topic, id: "m-1")
            #expect(try await server.publish(event).status == 200)
            let refused = try await server.publish(["not": "an event"])
            #expect(refused.status == 400)
            guard let delivered = try await acking.nextJSON() else { throw TestFailure("no event") }
            acking.ack(delivered["id"]?.stringValue ?? "")
            _ = try await silent.nextJSON()
            // `silent` never ACKs: after 2 s it is unsubscribed with a SyncError (C33).
            let text = try await Self.until(server, #"castbridge_sync_errors_total{cause="ack_timeout"}"#, atLeast: 1)
            #expect(Self.sample(text, #"castbridge_publishes_total{hub="fhircast",outcome="accepted"}"#) == 1)
            #expect(Self.sample(text, #"castbridge_publishes_total{hub="fhircast",outcome="refused"}"#) == 1)
            #expect(Self.sample(text, #"castbridge_deliveries_total{hub="fhircast",outcome="sent"}"#) == 2)
            #expect(Self.sample(text, #"castbridge_delivery_latency_seconds_count{hub="fhircast"}"#) == 1)
            #expect(Self.sample(text, "castbridge_ack_latency_seconds_count") == 1)
            #expect(Self.sample(text, #"castbridge_sync_errors_total{cause="refused"}"#) == 0)
            #expect(Self.sample(text, #"castbridge_subscribers{hub="fhircast",channel="websocket"}"#) == 1)
            #expect(Self.sample(text, #"castbridge_topics{hub="fhircast"}"#) == 1)
            #expect(!text.contains(topic))
            #expect(!text.contains("acking"))
            acking.close()
            silent.close()
        }
    }

    @Test("/metrics counts Cast publishes and requests that no one answers, and the payload store's bytes")
    func castMetrics() async throws {
        try await TestServer.with { server in
            let publish = try await TestServer.request(
                .POST, "\(server.base)/api/hub", body: #"{"event":{"hub.topic":"T","hub.event":"patient-open","context":[]}}"#,
                contentType: "application/json")
            #expect(publish.status == 200)
            let bad = try await TestServer.request(
                .POST, "\(server.base)/api/hub", body: #"{"event":{"hub.event":"patient-open","context":[]}}"#, contentType: "application/json")
            #expect(bad.status == 400)
            let request = try await TestServer.request(
                .POST, "\(server.base)/api/hub/request",
                body: #"{"subscriber.name":"asker","id":"r1","event":{"hub.topic":"T","hub.event":"status-request","context":{"timeoutSeconds":0.2}}}"#,
                contentType: "application/json")
            #expect(request.status == 200)
            let text = try await Self.metrics(server)
            #expect(Self.sample(text, #"castbridge_publishes_total{hub="cast",outcome="accepted"}"#) == 1)
            #expect(Self.sample(text, #"castbridge_publishes_total{hub="cast",outcome="refused"}"#) == 1)
            #expect(Self.sample(text, #"castbridge_cast_requests_total{outcome="no_responder"}"#) == 1)
            #expect(Self.sample(text, "castbridge_payload_store_bytes") == 0)
        }
    }

    @Test("/metrics counts webhook deliveries, times the store's writes, and reads the bridge's link and queue")
    func webhookStoreAndBridgeMetrics() async throws {
        let store = MemoryHubStore()
        try await CallbackServer.with { callback in
            try await TestServer.with({ $0.bridgeEnabled = true }, store: store) { server in
                let subscribed = try await server.post(
                    "",
                    form: [
                        ("hub.mode", "subscribe"), ("hub.channel.type", "webhook"), ("hub.topic", "T1"), ("hub.events", "Patient-open"),
                        ("hub.callback", callback.url), ("hub.secret", "s3cret"),
                    ], flavor: .stu2)
                #expect(subscribed.status == 202)
                try await server.untilVerified()
                #expect(try await server.publish(Events.patientOpen(topic: "T1")).status == 200)
                let text = try await Self.until(server, #"castbridge_webhook_deliveries_total{outcome="delivered"}"#, atLeast: 1)
                #expect(Self.sample(text, #"castbridge_webhook_deliveries_total{outcome="failed"}"#) == 0)
                #expect((Self.sample(text, #"castbridge_store_operation_duration_seconds_count{operation="fhircast_write"}"#) ?? 0) >= 1)
                #expect(Self.sample(text, #"castbridge_subscribers{hub="fhircast",channel="webhook"}"#) == 1)
                #expect(Self.sample(text, "castbridge_bridge_upstream_connected") == 1)
                #expect(Self.sample(text, "castbridge_bridge_leader") == 1)
                #expect(Self.sample(text, "castbridge_bridge_queue_depth") == 0)
                #expect(Self.sample(text, #"castbridge_bridge_events_total{direction="to_cast"}"#) == 1)
                #expect(Self.sample(text, "castbridge_bridge_reconnects_total") == 0)
                #expect(Self.sample(text, #"castbridge_build_info{version="\#(CastbridgeVersion.current)"}"#) == 1)
            }
        }
    }

    // MARK: The admin console's API

    @Test("The admin API needs the admin role: 401 without a token, 403 without the role, 200 with it; the page loads without one")
    func adminNeedsTheRole() async throws {
        let issuer = try await TestIssuer.start()
        let user = try await issuer.token(hubTopic: "T1")
        let admin = try await issuer.token(roles: ["castbridge-admin"])
        try await TestServer.with(SecurityTests.oidc(issuer)) { server in
            #expect(try await server.get("/admin/api/snapshot").status == 401)
            #expect(try await TestServer.request(.GET, "\(server.base)/admin/api/snapshot", bearer: user).status == 403)
            #expect(try await TestServer.request(.GET, "\(server.base)/admin/api/snapshot", bearer: admin).status == 200)
            let end = try await TestServer.request(
                .POST, "\(server.base)/admin/api/topics/clear", body: #"{"hub":"fhircast","topic":"T1"}"#, contentType: "application/json",
                bearer: user)
            #expect(end.status == 403)
            let page = try await server.get("/admin")
            #expect(page.status == 200)
            #expect(page.contentType.hasPrefix("text/html"))
            #expect(page.headers["Content-Security-Policy"].first?.contains("script-src 'self'") == true)
            #expect(try await server.get("/admin/console.js").status == 200)
            #expect(try await server.get("/metrics").status == 200)
            #expect(try await server.get("/health/ready").status == 200)
        }
    }

    @Test("The admin view shows subscribers and a masked context, and never an endpoint, a callback's path or query, a secret or a token")
    func adminViewLeaksNothing() async throws {
        try await CallbackServer.with { callback in
            try await TestServer.with { server in
                let topic = "ROOM-ADMIN-1"
                let (socket, endpoint, _) = try await server.subscriber(topic: topic, events: "Patient-open", name: "reporting")
                let secret = "hmac-secret-0123456789abcdef"
                let subscribed = try await server.post(
                    "",
                    form: [
                        ("hub.mode", "subscribe"), ("hub.channel.type", "webhook"), ("hub.topic", topic), ("hub.events", "Patient-open"),
                        ("hub.callback", callback.url + "&key=query-secret-42"), ("hub.secret", secret), ("subscriber.name", "legacy-pacs"),
                    ], flavor: .stu2)
                #expect(subscribed.status == 202)
                try await server.untilVerified()
                #expect(try await server.publish(Events.patientOpen(topic: topic, patient: "MRN-778899")).status == 200)
                _ = try await socket.nextJSON()
                let view = try await server.get("/admin/api/snapshot")
                #expect(view.status == 200)
                let endpointID = String(endpoint.split(separator: "/").last ?? "")
                #expect(endpointID.count >= 16)
                for leak in [endpointID, secret, "query-secret-42", "existing=1", "/cb", "MRN-778899"] {
                    #expect(!view.body.contains(leak), "the view shows \(leak)")
                }
                let subs = view.json?["fhircast"]?["topics"]?.arrayValue?.first?["subscribers"]?.arrayValue ?? []
                #expect(Set(subs.compactMap { $0["name"]?.stringValue }) == ["reporting", "legacy-pacs"])
                #expect(subs.contains { $0["callbackHost"] == "127.0.0.1" })
                let resources = view.json?["fhircast"]?["topics"]?.arrayValue?.first?["context"]?["resources"]?.arrayValue ?? []
                #expect(resources.first?["resourceType"] == "Patient")
                #expect(resources.first?["id"] == "••••99")
                // The subscribe is among the latest audit records.
                #expect(view.json?["audit"]?.arrayValue?.contains { $0["action"] == "subscribe" && $0["topic"]?.stringValue == topic } == true)
                socket.close()
            }
        }
    }

    @Test("With --admin-show-ids the view shows resource ids as they are")
    func adminShowsIDs() async throws {
        try await TestServer.with({ $0.adminShowsIDs = true }) { server in
            try await server.openTopic("T1")
            #expect(try await server.publish(Events.patientOpen(topic: "T1", patient: "MRN-778899")).status == 200)
            let view = try await server.get("/admin/api/snapshot")
            #expect(view.json?["fhircast"]?["topics"]?.arrayValue?.first?["context"]?["resources"]?.arrayValue?.first?["id"] == "MRN-778899")
        }
    }

    @Test("Ending a subscription from the admin API denies its socket (C21) and audits it; clearing a topic ends the rest and forgets its context")
    func adminActions() async throws {
        let audit = CollectingAudit()
        try await TestServer.with({ _ in }, audit: audit) { server in
            let (first, _, _) = try await server.subscriber(topic: "T1", events: "Patient-open", name: "first")
            let (second, _, _) = try await server.subscriber(topic: "T1", events: "Patient-open", name: "second")
            #expect(try await server.publish(Events.patientOpen(topic: "T1")).status == 200)
            let view = try await server.get("/admin/api/snapshot")
            let subs = view.json?["fhircast"]?["topics"]?.arrayValue?.first?["subscribers"]?.arrayValue ?? []
            guard let ref = subs.first(where: { $0["name"] == "first" })?["ref"]?.stringValue else { throw TestFailure("no ref: \(view.body)") }

            let plain = try await TestServer.request(
                .POST, "\(server.base)/admin/api/subscriptions/end", body: #"{"hub":"fhircast","ref":"\#(ref)"}"#, contentType: "text/plain")
            #expect(plain.status == 415)
            let ended = try await TestServer.request(
                .POST, "\(server.base)/admin/api/subscriptions/end", body: #"{"hub":"fhircast","ref":"\#(ref)"}"#,
                contentType: "application/json")
            #expect(ended.status == 200)
            let closed = await first.waitForClose()
            #expect(closed.frames.contains { $0["hub.mode"] == "denied" && $0["hub.reason"] == "ended by an administrator" })
            let again = try await TestServer.request(
                .POST, "\(server.base)/admin/api/subscriptions/end", body: #"{"hub":"fhircast","ref":"\#(ref)"}"#,
                contentType: "application/json")
            #expect(again.status == 404)
            let wrongHub = try await TestServer.request(
                .POST, "\(server.base)/admin/api/subscriptions/end", body: #"{"hub":"dicom","ref":"\#(ref)"}"#, contentType: "application/json")
            #expect(wrongHub.status == 400)

            let cleared = try await TestServer.request(
                .POST, "\(server.base)/admin/api/topics/clear", body: #"{"hub":"fhircast","topic":"T1"}"#, contentType: "application/json")
            #expect(cleared.status == 200)
            #expect(cleared.json?["ended"] == 1)
            _ = await second.waitForClose()
            #expect(try await server.get("/fhircast/STU3/T1").status == 404)
            #expect(audit.all.contains { $0.action == "admin" && $0.reason == "end subscription \(ref)" && $0.status == 200 })
            #expect(audit.all.contains { $0.action == "admin" && $0.topic == "T1" && $0.reason?.hasPrefix("clear topic") == true })
        }
    }

    @Test("The admin API ends a Cast subscription and closes its socket")
    func adminEndsCast() async throws {
        try await TestServer.with { server in
            let (socket, _) = try await server.castSubscriber(topic: "T9", events: "patient-open", name: "viewer")
            let view = try await server.get("/admin/api/snapshot")
            let subs = view.json?["cast"]?["subscriptions"]?.arrayValue ?? []
            #expect(subs.first?["name"] == "viewer")
            #expect(subs.first?["connected"] == true)
            guard let ref = subs.first?["ref"]?.stringValue else { throw TestFailure("no ref: \(view.body)") }
            let ended = try await TestServer.request(
                .POST, "\(server.base)/admin/api/subscriptions/end", body: #"{"hub":"cast","ref":"\#(ref)"}"#, contentType: "application/json")
            #expect(ended.status == 200)
            _ = await socket.waitForClose()
            #expect(try await server.get("/admin/api/snapshot").json?["cast"]?["subscriptions"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test("The live view streams the snapshot as server-sent events, and again when an event changes it")
    func adminStream() async throws {
        try await TestServer.with({ $0.adminRefreshSeconds = 0.05 }) { server in
            try await server.openTopic("T1")
            var request = HTTPClientRequest(url: "\(server.base)/admin/api/stream")
            request.method = .GET
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "Content-Type") == "text/event-stream")
            var body = response.body.makeAsyncIterator()
            var buffered = ""
            func nextEvent() async throws -> JSONValue? {
                while true {
                    if let cut = buffered.range(of: "\n\n") {
                        let block = String(buffered[..<cut.lowerBound])
                        buffered = String(buffered[cut.upperBound...])
                        guard block.hasPrefix("data: ") else { continue }
                        return try JSONValue.parse(Data(block.dropFirst(6).utf8))
                    }
                    guard let chunk = try await body.next() else { return nil }
                    buffered += String(buffer: chunk)
                }
            }
            let first = try await nextEvent()
            #expect(first?["fhircast"]?["topics"]?.arrayValue?.first?["context"] == nil)
            #expect(try await server.publish(Events.patientOpen(topic: "T1")).status == 200)
            // Other changes (a lease's seconds left) also make events: the context comes in one of the next few.
            var shown = false
            for _ in 0..<20 where !shown {
                let next = try await nextEvent()
                shown = next?["fhircast"]?["topics"]?.arrayValue?.first?["context"]?["type"] == "Patient"
            }
            #expect(shown)
        }
    }
}
