import Foundation
import Testing

@testable import FHIRcastCore

/// Issue #14, pure: what the admin console and `/metrics` read of the hub state, and the console's actions.
@Suite("Hub state: console view, actions and counts")
struct HubConsoleTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let base = HubStateTests()

    @Test("The console view lists each topic's subscribers by reference, with the lease left and the masked context; no id, endpoint, callback path or secret")
    func view() throws {
        var state = HubStateTests.makeState()
        let socket = try base.connected(&state, topic: "ROOM", events: ["Patient-open"], name: "reporting", id: "endpoint-abcdef-123456")
        var hook = SubscriptionRequest(mode: .subscribe, topic: "ROOM", events: ["Patient-open"], channelType: .webhook, subscriberName: "pacs")
        hook.callback = "https://pacs.example/fhircast/cb?token=callback-secret"
        hook.secret = "hmac-key-0123456789"
        _ = try state.subscribe(hook, flavor: .stu2, now: t0, newID: SubscriptionID("webhook-id-9876"))
        _ = try state.publish(base.open("ROOM", patient: "MRN-445566", id: "e1"), now: t0)
        let view = state.consoleView(
            now: t0.addingTimeInterval(100), revealsIDs: false, ref: { "ref-" + String($0.raw.count) }, queued: { $0 == socket ? 3 : nil })
        let text = String(decoding: try JSONEncoder().encode(view), as: UTF8.self)
        for leak in ["endpoint-abcdef-123456", "webhook-id-9876", "callback-secret", "/fhircast/cb", "hmac-key-0123456789", "MRN-445566"] {
            #expect(!text.contains(leak), "\(leak)")
        }
        let topic = try #require(view.arrayValue?.first)
        #expect(topic["topic"] == "ROOM")
        #expect(topic["context"]?["type"] == "Patient")
        #expect(topic["context"]?["resources"]?.arrayValue?.first?["id"] == "••••66")
        let subs = topic["subscribers"]?.arrayValue ?? []
        let reporting = try #require(subs.first { $0["name"] == "reporting" })
        #expect(reporting["ref"] == .string("ref-\(socket.raw.count)"))
        #expect(reporting["channel"] == "websocket" && reporting["state"] == "active" && reporting["backlog"] == 3)
        #expect(reporting["leaseLeftSeconds"] == .int(Int64(state.config.defaultLeaseSeconds - 100)))
        let pacs = try #require(subs.first { $0["name"] == "pacs" })
        #expect(pacs["channel"] == "webhook" && pacs["callbackHost"] == "pacs.example" && pacs["state"] == "awaiting verification")
        #expect(pacs["backlog"] == nil && pacs["version"] == "STU2")
        let revealed = state.consoleView(now: t0, revealsIDs: true, ref: { $0.raw }, queued: { _ in nil })
        #expect(revealed.arrayValue?.first?["context"]?["resources"]?.arrayValue?.first?["id"] == "MRN-445566")
    }

    @Test("Ending a subscription denies it (C21); clearing a topic ends every subscription and forgets the context; the census follows")
    func actions() throws {
        var state = HubStateTests.makeState()
        let a = try base.connected(&state, topic: "ROOM", events: ["Patient-open"], id: "a")
        let b = try base.connected(&state, topic: "ROOM", events: ["Patient-open"], id: "b")
        _ = try base.connected(&state, topic: "OTHER", events: ["Patient-open"], id: "c")
        _ = try state.publish(base.open("ROOM", patient: "p", id: "e1"), now: t0)
        #expect(state.census == HubState.Census(websocket: 3, webhook: 0, topics: 2))
        let ended = state.end(a, reason: "ended by an administrator")
        #expect(ended.count == 1)
        #expect(ended.contains { if case .deny(let s, "ended by an administrator") = $0 { s.id == a } else { false } })
        #expect(state.end(a, reason: "again").isEmpty)
        let cleared = state.clear(topic: "ROOM", reason: "cleared")
        #expect(cleared.count == 1)
        #expect(cleared.contains { if case .deny(let s, _) = $0 { s.id == b } else { false } })
        #expect(state.context(of: "ROOM") == nil)
        #expect(!state.knows(topic: "ROOM"))
        #expect(state.census == HubState.Census(websocket: 1, webhook: 0, topics: 1))
    }

    @Test("SyncErrors are counted by cause, whether or not anyone takes them: ACK timeout, refusal, abnormal close, not passed on")
    func syncErrorCauses() throws {
        var state = HubStateTests.makeState { $0.ackTimeoutSeconds = 10 }
        let silent = try base.connected(&state, events: ["Patient-open"], id: "silent")
        let refusing = try base.connected(&state, events: ["Patient-open"], id: "refusing")
        let closing = try base.connected(&state, events: ["Patient-open"], id: "closing")
        let accepted = base.open(patient: "p", id: "e1")
        _ = try state.publish(accepted, now: t0)
        #expect(state.acknowledged(refusing, eventID: "e1", status: 500, now: t0).isEmpty)  // no one takes SyncError
        _ = state.disconnected(closing, closeCode: 1006, now: t0)
        _ = state.expire(now: t0.addingTimeInterval(10))
        _ = state.rejectAccepted(accepted, publisherName: nil, diagnostics: "the Cast hub refused it", now: t0)
        #expect(state.syncErrorsMade == [.refused: 1, .disconnected: 1, .ackTimeout: 1, .notPassedOn: 1])
        #expect(state.subscriptions[silent] == nil)
    }

    @Test("An ACK's latency is the time since its event was sent; none for an event not awaited")
    func ackLatency() throws {
        var state = HubStateTests.makeState { $0.ackTimeoutSeconds = 10 }
        let sub = try base.connected(&state, events: ["Patient-open"], id: "s")
        _ = try state.publish(base.open(patient: "p", id: "e1"), now: t0)
        #expect(state.ackWaited(sub, eventID: "e1", now: t0.addingTimeInterval(0.25)) == 0.25)
        #expect(state.ackWaited(sub, eventID: "unknown", now: t0) == nil)
        _ = state.acknowledged(sub, eventID: "e1", status: 200, now: t0)
        #expect(state.ackWaited(sub, eventID: "e1", now: t0) == nil)
    }
}
