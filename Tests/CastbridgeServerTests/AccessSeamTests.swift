import AccessCore
import CastbridgeServer
import FHIRcastCore
import ServiceSupport
import Testing

/// The authorization seam (issue #20, for #13): every FHIRcast route asks the policy before it acts.
@Suite("Access policy seam (live)")
struct AccessSeamTests {
    /// Denies everything on topic `secret`: reading 401, anything else 403.
    struct DenySecret: AccessPolicy {
        func decide(_ request: AccessRequest) async -> AccessDecision {
            guard request.topic == "secret" else { return .allow(.unrestricted) }
            if request.action == .readContext { return .deny(status: 401, reason: "no token for secret") }
            return .deny(status: 403, reason: "\(request.action) on secret is not allowed")
        }
    }

    @Test("A denied subscribe, publish or context read gets the policy's status and reason; other topics are untouched")
    func denied() async throws {
        try await TestServer.with(access: DenySecret()) { server in
            let subscribe = try await server.post(
                "", form: [("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "secret"), ("hub.events", "Patient-open")])
            #expect(subscribe.status == 403)
            #expect(subscribe.body.contains("subscribe on secret is not allowed"))
            let publish = try await server.publish(Events.patientOpen(topic: "secret"))
            #expect(publish.status == 403)
            let read = try await server.get("/fhircast/STU3/secret")
            #expect(read.status == 401)
            #expect(read.body.contains("no token for secret"))
            // Another topic: as before.
            let (socket, _, _) = try await server.subscriber(topic: "open", events: "Patient-open")
            #expect(try await server.publish(Events.patientOpen(topic: "open", id: "ok-1")).status == 200)
            #expect(try await socket.nextJSON()?["id"] == "ok-1")
        }
    }
}
