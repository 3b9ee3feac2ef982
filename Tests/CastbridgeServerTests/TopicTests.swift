import BridgeCore
import CastbridgeServer
import FHIRcastCore
import Foundation
import Testing

/// Which topics exist (issue #21, item 4; C36, C43, IHE IRA): a topic exists while it has a subscriber or a context
/// the hub keeps, and, with the bridge on, while Cast apps listen on it. Docs/conformance.md, "Topics".
@Suite("Topics (live)")
struct TopicTests {
    @Test("C36 C43: an unknown topic's publish is a 400 and its context a 404, each with the reason; a subscription makes it exist, a kept context keeps it")
    func unknownTopics() async throws {
        try await TestServer.with({ $0.bridgeEnabled = false }) { server in
            let publish = try await server.publish(Events.patientOpen(topic: "nobody"))
            #expect(publish.status == 400)
            #expect(publish.body.contains("unknown topic 'nobody'") && publish.body.contains("subscribe to it first"))
            #expect(try await server.get("/fhircast/STU3/nobody").status == 404)
            #expect(try await server.get("/fhircast/STU2/nobody").status == 404)
            // STU2-style POST hub.url/{topic} follows the same rule (C37).
            let pathStyle = try await server.postJSON("/nobody", Events.patientOpen(topic: "nobody"))
            #expect(pathStyle.status == 400)
            // A subscriber makes the topic exist; the context it gets stays after the subscriber leaves.
            let (socket, endpoint, _) = try await server.subscriber(topic: "s", events: "Patient-open")
            #expect(try await server.publish(Events.patientOpen(topic: "s", id: "e1")).status == 200)
            #expect(try await socket.nextJSON()?["id"] == "e1")
            socket.ack("e1")
            let gone = try await server.post("", form: [("hub.mode", "unsubscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "s"), ("hub.channel.endpoint", endpoint)])
            #expect(gone.status == 202)
            let kept = try await server.get("/fhircast/STU3/s")
            #expect(kept.status == 200)
            #expect(kept.json?["context.type"] == "Patient")
            #expect(try await server.publish(Events.patientClose(topic: "s")).status == 200)
        }
    }

    @Test("Bridged: an EHR's event reaches a Cast viewer that is the topic's only listener, and a Cast publish creates the FHIRcast context")
    func castListenersMakeTopics() async throws {
        try await TestServer.with(BridgeTests.bridged) { server in
            try await BridgeTests.waitForBridge(server)
            // Nobody listens yet, on either side: refused.
            #expect(try await server.publish(Events.patientOpen(topic: "viewer-only")).status == 400)
            let (viewer, _) = try await server.castSubscriber(topic: "viewer-only", events: "patient-open", name: "Viewer")
            #expect(try await server.publish(Events.patientOpen(topic: "viewer-only", id: "ehr-1")).status == 200)
            #expect(try await viewer.nextJSON(timeout: .seconds(10))?["id"] == "ehr-1")
            // A Cast app's publish on a topic no FHIRcast app knows yet creates the FHIRcast context.
            let publish: JSONValue = [
                "id": "cast-1", "subscriber.name": "Viewer",
                "event": ["hub.topic": "from-cast", "hub.event": "patient-open", "context": [Events.patient("p9")]],
            ]
            #expect(try await server.castPost(publish).status == 200)
            var context: TestServer.HTTPResult?
            for _ in 0..<100 {
                context = try await server.get("/fhircast/STU3/from-cast")
                if context?.status == 200 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(context?.status == 200)
            #expect(context?.json?["context"]?.arrayValue?.first?["resource"]?["id"] == "p9")
            // A Cast app subscribed to every topic ('*', a monitor) does not make every topic exist.
            let (_, _) = try await server.castSubscriber(topic: "*", events: "*", name: "Monitor")
            #expect(try await server.publish(Events.patientOpen(topic: "still-unknown")).status == 400)
        }
    }
}
