import Foundation
import Testing

@testable import FHIRcastCore

@Suite("Hub state: caps per topic and per owner")
struct HubCapsTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func request(topic: String, owner: String?) -> SubscriptionRequest {
        var r = SubscriptionRequest(mode: .subscribe, topic: topic, events: ["Patient-open"], channelType: .websocket)
        r.owner = owner
        return r
    }

    @Test("Beyond the caps a subscription is refused with 429 and Retry-After; a removed one frees its place")
    func caps() throws {
        var state = HubStateTests.makeState {
            $0.maxSubscriptionsPerTopic = 3
            $0.maxSubscriptionsPerOwner = 2
        }
        _ = try state.subscribe(request(topic: "a", owner: "alice"), flavor: .stu3, now: t0, newID: SubscriptionID("1"))
        _ = try state.subscribe(request(topic: "b", owner: "alice"), flavor: .stu3, now: t0, newID: SubscriptionID("2"))
        do {
            _ = try state.subscribe(request(topic: "c", owner: "alice"), flavor: .stu3, now: t0, newID: SubscriptionID("3"))
            Issue.record("a third subscription for alice")
        } catch {
            #expect(error.status == 429 && error.retryAfter != nil && error.message.contains("alice"))
        }
        _ = try state.subscribe(request(topic: "a", owner: "bob"), flavor: .stu3, now: t0, newID: SubscriptionID("4"))
        _ = try state.subscribe(request(topic: "a", owner: nil), flavor: .stu3, now: t0, newID: SubscriptionID("5"))
        do {
            _ = try state.subscribe(request(topic: "a", owner: "carol"), flavor: .stu3, now: t0, newID: SubscriptionID("6"))
            Issue.record("a fourth subscription on topic a")
        } catch {
            #expect(error.status == 429 && error.message.contains("topic 'a'"))
        }
        var leave = SubscriptionRequest(mode: .unsubscribe, topic: "b", events: [], channelType: .websocket)
        leave.endpoint = "2"
        _ = try state.unsubscribe(leave)
        _ = try state.subscribe(request(topic: "c", owner: "alice"), flavor: .stu3, now: t0, newID: SubscriptionID("7"))
    }
}
