import CastCore
import FHIRcastCore
import Testing

@testable import BridgeService

/// Generation B `cast-get` answers in the collated shape of generation D (cast-protocol.md §3.3).
@Suite("cast-get answers")
struct CastGetAnswerTests {
    static let request = CastRequest(
        id: "CASTBRIDGE-1", requester: "castbridge", eventName: "get-request", dataType: "SCENEVIEW", topic: "USER-2", timeoutSeconds: 2,
        requesterActor: nil, requesterProduct: nil, targetActor: nil, targetProduct: nil, context: [:], timestamp: nil,
        targetSubscriber: "nobody")

    @Test("castpw44's answer for a target that does not exist (response null) is not ok and has no responses")
    func noTarget() {
        let answer: JSONValue = [
            "subscriber": "nobody", "dataType": "SCENEVIEW", "exists": false, "connected": false, "topic": .null, "endpoint": .null,
            "response": .null, "requestedTopic": "USER-2",
        ]
        let collated = CastGetAnswer.collated(answer, request: Self.request)
        #expect(collated["ok"] == false)
        #expect(collated["responses"] == [])
        #expect(collated["targetExists"] == false)
        #expect(collated["expected"] == [])
    }

    @Test("An answered get-response becomes one response with its data")
    func answered() {
        let answer: JSONValue = [
            "exists": true, "connected": true,
            "response": ["id": "r1", "actor": "VIEWER", "event": ["hub.event": "get-response", "context": ["data": ["layout": "four-up"]]]],
        ]
        let collated = CastGetAnswer.collated(answer, request: Self.request)
        #expect(collated["ok"] == true)
        #expect(collated["responses"]?.arrayValue?.first?["data"] == ["layout": "four-up"])
        #expect(collated["missing"] == [])
    }
}
