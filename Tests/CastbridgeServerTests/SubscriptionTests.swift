import CastbridgeServer
import FHIRcastCore
import Foundation
import Testing

/// Subscribe, confirm, re-subscribe, unsubscribe, leases (checklist §1.2, §1.3).
@Suite("Subscriptions (live)")
struct SubscriptionTests {
    @Test("C3 C9 C14: subscribe answers 202 JSON with a fresh unguessable endpoint")
    func subscribeAnswers202() async throws {
        try await TestServer.with { server in
            var seen = Set<String>()
            for _ in 0..<50 {
                let result = try await server.post(
                    "", form: [("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "t"), ("hub.events", "Patient-open")])
                #expect(result.status == 202)
                #expect(result.contentType.hasPrefix("application/json"))
                let endpoint = try #require(result.json?["hub.channel.endpoint"]?.stringValue)
                #expect(endpoint.hasPrefix("ws://127.0.0.1:\(server.port)/fhircast/ws/"))
                let id = HubState.endpointID(endpoint)
                #expect(id.count == 32 && id.allSatisfy(\.isHexDigit))  // 128 random bits
                #expect(!endpoint.contains("/t/") && !endpoint.hasSuffix("/t"))
                seen.insert(endpoint)
            }
            #expect(seen.count == 50)
        }
    }

    @Test("C12 C16: the first frame is the four-key confirmation, events deduplicated case-insensitively")
    func confirmationFrame() async throws {
        try await TestServer.with { server in
            let (socket, _, confirmation) = try await server.subscriber(topic: "topic-A", events: "Patient-open,patient-OPEN,SyncError", lease: 600)
            let obj = try #require(confirmation.objectValue)
            #expect(Set(obj.keys) == ["hub.mode", "hub.topic", "hub.events", "hub.lease_seconds"])
            #expect(obj["hub.mode"] == "subscribe")
            #expect(obj["hub.topic"] == "topic-A")
            #expect(obj["hub.events"] == "Patient-open,SyncError")
            #expect(obj["hub.lease_seconds"] == 600)
            // A published PATIENT-OPEN is delivered exactly once.
            _ = try await server.publish(Events.notification("PATIENT-OPEN", topic: "topic-A", id: "e1", context: [Events.patient("p")]))
            let frame = try #require(try await socket.nextJSON())
            #expect(frame["id"] == "e1")
            #expect(frame["event"]?["hub.event"] == "Patient-open")
            #expect(await socket.expectSilence() == nil)
            socket.close()
        }
    }

    @Test("C20: the lease is capped at the configured maximum; on expiry a denied frame, then close")
    func leaseExpiry() async throws {
        // 2 s: long enough for the subscriber to connect on a loaded machine before the lease ends.
        try await TestServer.with({ $0.hub.maxLeaseSeconds = 2 }) { server in
            let (socket, _, confirmation) = try await server.subscriber(topic: "lease", events: "Patient-open", lease: 3600)
            #expect(confirmation["hub.lease_seconds"] == 2)
            let (frames, code) = await socket.waitForClose(timeout: .seconds(6))
            #expect(code != nil, "socket was not closed after the lease")
            #expect(frames.first?["hub.mode"] == "denied")
            #expect(frames.first?["hub.reason"] == "lease expired")
            // The topic's only subscriber expired and it never had a context: it no longer exists (C36).
            let publish = try await server.publish(Events.patientOpen(topic: "lease"))
            #expect(publish.status == 400)
            #expect(publish.body.contains("unknown topic"))
        }
    }

    @Test("C17: re-subscribing with the same endpoint replaces the events")
    func resubscribeReplacesEvents() async throws {
        try await TestServer.with { server in
            let (socket, endpoint, _) = try await server.subscriber(topic: "re", events: "Patient-open")
            let again = try await server.subscribe(topic: "re", events: "Patient-close", endpoint: endpoint)
            #expect(again == endpoint)
            _ = try await server.publish(Events.patientOpen(topic: "re", id: "open-1"))
            _ = try await server.publish(Events.patientClose(topic: "re", id: "close-1"))
            let frame = try #require(try await socket.nextJSON())
            #expect(frame["id"] == "close-1")
            #expect(await socket.expectSilence() == nil)
        }
    }

    @Test("C21 C22: unsubscribe answers 202 with the endpoint, sends denied, closes; C15: the endpoint is then dead")
    func unsubscribe() async throws {
        try await TestServer.with { server in
            let (socket, endpoint, _) = try await server.subscriber(topic: "un", events: "Patient-open")
            let (other, _, _) = try await server.subscriber(topic: "un", events: "Patient-open")
            let result = try await server.post(
                "", form: [("hub.mode", "unsubscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "un"), ("hub.channel.endpoint", endpoint)])
            #expect(result.status == 202)
            #expect(result.json?["hub.channel.endpoint"]?.stringValue == endpoint)
            let (frames, code) = await socket.waitForClose(timeout: .seconds(2))
            #expect(frames.first?["hub.mode"] == "denied")
            #expect(frames.first?["hub.topic"] == "un")
            #expect(code != nil)
            await #expect(throws: (any Error).self) { _ = try await TestSocket.connect(endpoint) }
            // C23: the other subscriber is untouched.
            _ = try await server.publish(Events.patientOpen(topic: "un", id: "still"))
            #expect(try await other.nextJSON()?["id"] == "still")
        }
    }

    @Test("C23: unsubscribe without an endpoint, or with one of another topic, is a 400")
    func unsubscribeErrors() async throws {
        try await TestServer.with { server in
            let endpoint = try await server.subscribe(topic: "mine", events: "Patient-open")
            let missing = try await server.post("", form: [("hub.mode", "unsubscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "mine")])
            #expect(missing.status == 400)
            #expect(missing.body.contains("hub.channel.endpoint"))
            let wrongTopic = try await server.post(
                "", form: [("hub.mode", "unsubscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "other"), ("hub.channel.endpoint", endpoint)])
            #expect(wrongTopic.status == 400)
            let unknown = try await server.post(
                "", form: [("hub.mode", "unsubscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "mine"), ("hub.channel.endpoint", "ws://x/fhircast/ws/nope")])
            #expect(unknown.status == 400)
        }
    }

    @Test("C15: an unknown endpoint is refused with 404 at the upgrade")
    func unknownEndpointRefused() async throws {
        try await TestServer.with { server in
            let result = try await server.get("/fhircast/ws/00000000000000000000000000000000")
            #expect(result.status == 404)
            await #expect(throws: (any Error).self) {
                _ = try await TestSocket.connect("ws://127.0.0.1:\(server.port)/fhircast/ws/0123456789abcdef0123456789abcdef")
            }
        }
    }

    @Test("A second connection to a connected endpoint is refused; the first keeps working")
    func secondConnectionRefused() async throws {
        try await TestServer.with { server in
            let (socket, endpoint, _) = try await server.subscriber(topic: "dup", events: "Patient-open")
            await #expect(throws: (any Error).self) { _ = try await TestSocket.connect(endpoint) }
            _ = try await server.publish(Events.patientOpen(topic: "dup", id: "x"))
            #expect(try await socket.nextJSON()?["id"] == "x")
        }
    }

    @Test("An endpoint that is never connected is forgotten after the connect timeout")
    func connectTimeout() async throws {
        try await TestServer.with({ $0.hub.connectTimeoutSeconds = 0.3 }) { server in
            let endpoint = try await server.subscribe(topic: "late", events: "Patient-open")
            try await Task.sleep(for: .milliseconds(600))
            await #expect(throws: (any Error).self) { _ = try await TestSocket.connect(endpoint) }
        }
    }

    @Test("--public-url is advertised in hub.channel.endpoint (https becomes wss)")
    func publicURL() async throws {
        try await TestServer.with({ $0.publicURL = "https://hub.example.org/base/" }) { server in
            let endpoint = try await server.subscribe(topic: "p", events: "Patient-open")
            #expect(endpoint.hasPrefix("wss://hub.example.org/base/fhircast/ws/"))
        }
    }
}
