import FHIRcastCore
import Testing

@testable import CastCore

/// Issue #14, pure: what the admin console shows of the embedded Cast hub.
@Suite("Cast hub state: console view")
struct CastConsoleTests {
    @Test("Subscriptions by reference with name, product, actors, connection and backlog; pending requests with who is still awaited; no endpoint, secret or callback path")
    func view() throws {
        var state = CastHubState()
        _ = try state.subscribe(
            CastFields([
                "hub.topic": "T", "hub.events": "status-request,patient-open", "subscriber.name": "Slicer", "hub.channel.type": "websocket",
                "subscriber.actors": ["VIEWER"], "subscriber.product.name": "3D Slicer",
            ]), endpoint: "endpoint-secret-aaaa")
        _ = state.bind("endpoint-secret-aaaa")
        _ = try state.subscribe(
            CastFields([
                "hub.topic": "T", "hub.events": "patient-open", "subscriber.name": "Archive", "hub.channel.type": "websub",
                "hub.callback": "https://archive.example/hook?key=callback-secret", "hub.secret": "websub-secret-123",
            ]), endpoint: "endpoint-secret-bbbb")
        _ = try state.subscribe(
            CastFields(["hub.topic": "T", "hub.events": "status-response", "subscriber.name": "Asker", "hub.channel.type": "websocket"]),
            endpoint: "endpoint-secret-cccc")
        let request = try CastRequest.parse(["subscriber.name": "Asker", "id": "q1", "event": ["hub.topic": "T", "hub.event": "status-request"]])
        _ = state.startRequest(request, id: "f1", timestamp: "t")

        let view = state.consoleView(ref: { "ref-" + $0.suffix(4) }, connected: { $0 == "endpoint-secret-aaaa" }, queued: { _ in 2 })
        let text = String(describing: view)
        for leak in ["endpoint-secret", "callback-secret", "/hook", "websub-secret-123"] { #expect(!text.contains(leak), "\(leak)") }
        let subs = view["subscriptions"]?.arrayValue ?? []
        let slicer = try #require(subs.first { $0["name"] == "Slicer" })
        #expect(slicer["ref"] == "ref-aaaa" && slicer["product"] == "3D Slicer" && slicer["actors"] == ["VIEWER"])
        #expect(slicer["channel"] == "websocket" && slicer["connected"] == true && slicer["backlog"] == 2)
        let archive = try #require(subs.first { $0["name"] == "Archive" })
        #expect(archive["channel"] == "websub" && archive["callbackHost"] == "archive.example" && archive["connected"] == nil)
        let pending = try #require(view["pendingRequests"]?.arrayValue?.first)
        #expect(pending["id"] == "q1" && pending["requester"] == "Asker" && pending["missing"] == ["Slicer"])
        #expect(state.census == (websocket: 2, websub: 1, topics: 1))
        #expect(state.endpoint(ref: "ref-bbbb", by: { "ref-" + $0.suffix(4) }) == "endpoint-secret-bbbb")
        #expect(state.endpoints(onTopic: "T").count == 3)
    }
}
