import CastClient
import BridgeService
import BridgeCore
import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOHTTP1
import Testing

/// The bridge on a generation B Cast hub, which compares topics literally (issue #21, item 5): one subscription per
/// topic FHIRcast apps subscribe to, never `*`.
@Suite("Bridge to a generation B hub (live)")
struct GenerationBTests {
    static func configure(_ hub: GenerationBHub) -> @Sendable (inout ServerConfiguration) -> Void {
        let base = hub.base
        return {
            BridgeTests.bridged(&$0)
            $0.castHubURL = base
            $0.castDialect = .b
            $0.castAuth = .clientCredentials(tokenURL: base + "/oauth/token", clientID: "castbridge", clientSecret: "s")
            $0.bridgeReconnectBaseSeconds = 0.05
            $0.bridgeReconnectMaxSeconds = 0.2
        }
    }

    /// Waits until the bridge's bound subscriptions on the hub are exactly `topics`.
    static func waitForTopics(_ hub: GenerationBHub, _ topics: [String], timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        var seen: [String] = []
        while ContinuousClock.now < deadline {
            seen = await hub.topics(of: "castbridge")
            if seen == topics { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("the bridge holds \(seen) on the generation B hub, not \(topics)")
    }

    static func unsubscribe(_ server: TestServer, topic: String, endpoint: String) async throws {
        let result = try await server.post(
            "", form: [("hub.mode", "unsubscribe"), ("hub.channel.type", "websocket"), ("hub.topic", topic), ("hub.channel.endpoint", endpoint)])
        guard result.status == 202 else { throw TestFailure("unsubscribe: \(result.status) \(result.body)") }
    }

    @Test("A Cast app's publish to /api/hub/{topic} reaches the topic's FHIRcast subscriber; FHIRcast → Cast too; the bridge holds one subscription per topic that exists for FHIRcast, and leaves one that no longer does")
    func followsTopics() async throws {
        let hub = try await GenerationBHub.start()
        try await TestServer.with(Self.configure(hub)) { server in
            try await BridgeTests.waitForBridge(server)
            // No FHIRcast subscriber yet: nothing held, and above all no `*`, which matches nothing on this hub.
            try await Self.waitForTopics(hub, [])
            let (fhircast, endpoint, _) = try await server.subscriber(topic: "USER-1", events: "ImagingStudy-open,ImagingStudy-close")
            let (other, otherEndpoint, _) = try await server.subscriber(topic: "USER-2", events: "ImagingStudy-open")
            try await Self.waitForTopics(hub, ["USER-1", "USER-2"])

            // Cast → FHIRcast, published the generation B way: on the topic's path, the publisher in hub.source.
            let (viewer, _) = try await TestServer.castSubscriber(base: hub.base, topic: "USER-1", events: "imagingstudy-open", name: "OHIF")
            let fromCast = BridgeTests.castEvent("imagingstudy-open", topic: "", from: "OHIF", id: "b-cast-1", context: [BridgeTests.study], extra: [:])
            var event = try #require(fromCast["event"]?.objectValue)
            event["hub.source"] = "OHIF"
            var published = try #require(fromCast.objectValue)
            published["event"] = .object(event)
            let sent = try await TestServer.request(
                .POST, "\(hub.base)/api/hub/USER-1", body: String(decoding: try JSONEncoder().encode(JSONValue.object(published)), as: UTF8.self),
                contentType: "application/json")
            #expect(sent.status == 200)
            let got = try #require(try await fhircast.nextJSON(timeout: .seconds(5)))
            #expect(got["id"] == "b-cast-1")
            #expect(got["event"]?["hub.event"] == "ImagingStudy-open")
            #expect(got["event"]?["hub.topic"] == "USER-1")
            #expect(try await other.nextJSON(timeout: .milliseconds(300)) == nil)

            // FHIRcast → Cast on the same topic; the bridge's own subscription gets no echo of it (hub.source).
            _ = try await server.publish(Events.notification("ImagingStudy-open", topic: "USER-1", id: "b-fhircast-1", context: [BridgeTests.study]))
            #expect(try await viewer.nextJSON(timeout: .seconds(5))?["id"] == "b-fhircast-1")
            #expect(try await fhircast.nextJSON()?["id"] == "b-fhircast-1")
            #expect(try await fhircast.nextJSON(timeout: .milliseconds(300)) == nil)

            // The last FHIRcast subscriber of a topic leaves: so does the bridge. A topic with a context the hub still
            // keeps exists for FHIRcast apps (C36), so the bridge stays on it until the hub forgets it (HubStateTests).
            try await Self.unsubscribe(server, topic: "USER-2", endpoint: otherEndpoint)
            try await Self.waitForTopics(hub, ["USER-1"])
            try await Self.unsubscribe(server, topic: "USER-1", endpoint: endpoint)
            try await Task.sleep(for: .milliseconds(200))
            try await Self.waitForTopics(hub, ["USER-1"])
            // A publish alone makes a topic exist: the bridge follows it.
            _ = try await server.publish(Events.notification("ImagingStudy-open", topic: "USER-3", context: [BridgeTests.study]))
            try await Self.waitForTopics(hub, ["USER-1", "USER-3"])
            viewer.close()
        }
        await hub.stop()
    }

    @Test("A generation B hub restarted on the same port: the bridge reconnects and subscribes to the FHIRcast topics again, and events flow")
    func hubRestart() async throws {
        let first = try await GenerationBHub.start()
        let port = first.port
        try await TestServer.with(Self.configure(first)) { server in
            try await BridgeTests.waitForBridge(server)
            let (fhircast, _, _) = try await server.subscriber(topic: "USER-7", events: "ImagingStudy-open")
            try await Self.waitForTopics(first, ["USER-7"])
            await first.stop()
            try await BridgeTests.waitForBridge(server, connected: false)
            let second = try await GenerationBHub.start(port: port)
            try await Self.waitForTopics(second, ["USER-7"])
            let event = BridgeTests.castEvent("imagingstudy-open", topic: "USER-7", from: "OHIF", id: "b-after-restart", context: [BridgeTests.study])
            let sent = try await TestServer.request(
                .POST, "\(second.base)/api/hub/USER-7", body: String(decoding: try JSONEncoder().encode(event), as: UTF8.self), contentType: "application/json")
            #expect(sent.status == 200)
            #expect(try await fhircast.nextJSON(timeout: .seconds(5))?["id"] == "b-after-restart")
            await second.stop()
        }
    }
}
