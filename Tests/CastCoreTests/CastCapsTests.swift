import CastCore
import FHIRcastCore
import Testing

@Suite("Cast hub state: caps")
struct CastCapsTests {
    func sub(_ endpoint: String, topic: String, owner: String?) throws -> CastSubscription {
        var s = try CastSubscription.parse(CastFields(["hub.topic": .string(topic), "hub.events": "patient-open", "subscriber.name": "app"]), endpoint: endpoint)
        s.owner = owner
        return s
    }

    @Test("Per owner and per topic: 429 with the reason beyond; in all: 503; a renewal of an existing endpoint is not counted again")
    func caps() throws {
        var state = CastHubState()
        state.maxSubscriptionsPerOwner = 2
        state.maxSubscriptionsPerTopic = 3
        state.maxSubscriptions = 5
        for (i, topic) in ["A", "B"].enumerated() {
            let s = try sub("e\(i)", topic: topic, owner: "alice")
            try state.checkCaps(s)
            state.add(s)
        }
        #expect(throws: CastError(429, "'alice' holds its maximum of 2 subscriptions; unsubscribe one first")) {
            try state.checkCaps(try sub("e9", topic: "C", owner: "alice"))
        }
        try state.checkCaps(try sub("e0", topic: "A", owner: "alice"))
        for i in 2..<4 {
            let s = try sub("e\(i)", topic: "A", owner: nil)
            try state.checkCaps(s)
            state.add(s)
        }
        #expect(throws: CastError(429, "topic 'A' holds its maximum of 3 subscriptions; unsubscribe one first")) {
            try state.checkCaps(try sub("e8", topic: "A", owner: "bob"))
        }
        state.add(try sub("e4", topic: "D", owner: nil))
        #expect(throws: CastError(503, "the hub holds its maximum of 5 subscriptions; try again later")) {
            try state.checkCaps(try sub("e7", topic: "E", owner: nil))
        }
    }
}
