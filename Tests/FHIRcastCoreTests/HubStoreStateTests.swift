import Foundation
import Testing

@testable import FHIRcastCore

/// What the hub hands a store (`takeChanges`), what it takes back (`restore`), and an event from another node
/// (`replicate`): the pure side of the store and fan-out seams.
@Suite("Hub state: store and fan-out seams")
struct HubStoreStateTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let base = HubStateTests()

    func webhook(topic: String = "t", callback: String = "http://127.0.0.1:9/hook", lease: Int? = nil) -> SubscriptionRequest {
        SubscriptionRequest(
            mode: .subscribe, topic: topic, events: ["DiagnosticReport-open", "DiagnosticReport-update"], channelType: .webhook,
            leaseSeconds: lease, callback: callback, secret: "s3cret")
    }

    func reportOpen(_ id: String = "o") -> EventNotification {
        EventNotification(
            timestamp: "2026-01-01T00:00:00Z", id: id,
            event: Event(
                topic: "t", name: "DiagnosticReport-open",
                context: [
                    ["key": "report", "resource": ["resourceType": "DiagnosticReport", "id": "r"]],
                    ["key": "patient", "resource": ["resourceType": "Patient", "id": "p"]],
                ]))
    }

    func update(_ version: String, observation: String) -> EventNotification {
        EventNotification(
            timestamp: "2026-01-01T00:00:01Z", id: "u-\(observation)",
            event: Event(
                topic: "t", name: "DiagnosticReport-update",
                context: [
                    ["key": "report", "reference": ["reference": "DiagnosticReport/r"]],
                    [
                        "key": "updates",
                        "resource": [
                            "resourceType": "Bundle", "id": "b", "type": "transaction",
                            "entry": [["request": ["method": "PUT"], "resource": ["resourceType": "Observation", "id": .string(observation)]]],
                        ],
                    ],
                ], versionId: version))
    }

    func accepted(_ effects: [HubEffect]) throws -> EventNotification {
        guard case .deliver(let n, _)? = effects.first else { throw TestFailure("nothing delivered") }
        return n
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    @Test("C34 across nodes: with sharesSyncErrors, a SyncError the hub makes about a subscriber is also handed to the other nodes, even when no subscriber here takes it; another node's SyncError goes to this node's syncerror subscribers only")
    func syncErrorsAcrossNodes() throws {
        var state = HubStateTests.makeState()
        state.sharesSyncErrors = true
        let silent = try state.subscribe(base.request(topic: "t", events: ["Patient-open"], name: "Silent"), flavor: .stu3, now: t0, newID: SubscriptionID("silent")).subscription.id
        _ = try state.connect(silent, now: t0)
        let effects = state.disconnected(silent, closeCode: 1006, now: t0)
        guard case .shareSyncError(let shared)? = effects.last else { throw TestFailure("not shared") }
        #expect(shared.event.name == "SyncError")
        #expect(effects.count == 1)  // no syncerror subscriber here
        // On another node: only its syncerror subscribers get it.
        var other = HubStateTests.makeState()
        let watcher = try other.subscribe(base.request(topic: "t", events: ["Patient-open", "SyncError"], name: "W"), flavor: .stu3, now: t0, newID: SubscriptionID("w")).subscription.id
        _ = try other.connect(watcher, now: t0)
        let plain = try other.subscribe(base.request(topic: "t", events: ["Patient-open"], name: "P"), flavor: .stu3, now: t0, newID: SubscriptionID("p")).subscription.id
        _ = try other.connect(plain, now: t0)
        guard case .deliver(_, let targets)? = other.relaySyncError(shared).first else { throw TestFailure("not relayed") }
        #expect(targets == [watcher])
        // Without the flag (one node), nothing is handed on.
        var single = HubStateTests.makeState()
        let lone = try single.subscribe(base.request(topic: "t", events: ["Patient-open"], name: "L"), flavor: .stu3, now: t0, newID: SubscriptionID("l")).subscription.id
        _ = try single.connect(lone, now: t0)
        #expect(single.disconnected(lone, closeCode: 1006, now: t0).isEmpty)
    }

    @Test("A webhook taken over from a stopped node is replayed the events it takes, in order, to it alone; events it does not take are skipped")
    func handoverReplay() throws {
        var state = HubStateTests.makeState()
        let hook = try state.subscribe(webhook(), flavor: .stu2, now: t0, newID: SubscriptionID("w")).subscription.id
        state.verified(hook, success: true)
        let other = EventNotification(
            timestamp: "2026-01-01T00:00:00Z", id: "x", event: Event(topic: "t", name: "Patient-open", context: [["key": "patient", "resource": ["resourceType": "Patient", "id": "p"]]]))
        let effects = state.replay([reportOpen("a"), other, reportOpen("b")], to: hook, now: t0)
        let delivered = effects.compactMap { effect -> String? in
            guard case .deliver(let n, let targets) = effect, targets == [hook] else { return nil }
            return n.id
        }
        #expect(delivered == ["a", "b"])
        #expect(state.replay([reportOpen("c")], to: SubscriptionID("unknown"), now: t0).isEmpty)
    }

    @Test("Without a store nothing is recorded")
    func untracked() throws {
        var state = HubStateTests.makeState()
        _ = try state.subscribe(webhook(), flavor: .stu2, now: t0, newID: SubscriptionID("w"))
        _ = try state.publish(reportOpen(), now: t0)
        #expect(state.takeChanges().isEmpty)
    }

    @Test("Recorded: a topic's context when it changes or is forgotten; webhook subscriptions as they begin, are verified and end; no WebSocket subscription, and nothing at shutdown")
    func recorded() throws {
        var state = HubStateTests.makeState { $0.topicIdleSeconds = 100 }
        state.tracksChanges = true
        let w = SubscriptionID("w")
        _ = try state.subscribe(webhook(lease: 60), flavor: .stu2, now: t0, newID: w)
        _ = try state.subscribe(base.request(topic: "other", events: ["Patient-open"]), flavor: .stu3, now: t0, newID: SubscriptionID("ws"))
        var changes = state.takeChanges()
        #expect(Array(changes.savedSubscriptions.keys) == [w])
        #expect(changes.savedSubscriptions[w]?.state == .awaitingVerification)
        #expect(state.takeChanges().isEmpty)

        state.verified(w, success: true)
        _ = try state.publish(reportOpen(), now: t0)
        changes = state.takeChanges()
        #expect(changes.savedSubscriptions[w]?.state == .active)
        #expect(changes.savedTopics["t"]?.current?.anchorID == "DiagnosticReport/r")

        _ = state.expire(now: t0.addingTimeInterval(60))
        changes = state.takeChanges()
        #expect(changes.endedSubscriptions == [w])
        _ = state.expire(now: t0.addingTimeInterval(200))
        #expect(state.takeChanges().forgottenTopics == ["t"])

        _ = try state.subscribe(webhook(), flavor: .stu2, now: t0, newID: SubscriptionID("w2"))
        _ = state.takeChanges()
        _ = state.removeAll()
        #expect(state.takeChanges().isEmpty)
    }

    @Test("C46 C47 across a restart: the restored context keeps its versionId and content, so an update made with it is taken; webhook subscriptions come back, verified ones to deliver, the others to verify again, expired ones not at all")
    func restoreRoundTrip() throws {
        var first = HubStateTests.makeState()
        first.tracksChanges = true
        let active = SubscriptionID("active"), pending = SubscriptionID("pending"), short = SubscriptionID("short")
        _ = try first.subscribe(webhook(callback: "http://127.0.0.1:9/a"), flavor: .stu2, now: t0, newID: active)
        first.verified(active, success: true)
        _ = try first.subscribe(webhook(callback: "http://127.0.0.1:9/p"), flavor: .stu2, now: t0, newID: pending)
        _ = try first.subscribe(webhook(callback: "http://127.0.0.1:9/s", lease: 10), flavor: .stu2, now: t0, newID: short)
        let v1 = try #require(try accepted(first.publish(reportOpen(), now: t0)).event.versionId)
        let v2 = try #require(try accepted(first.publish(update(v1, observation: "o1"), now: t0)).event.versionId)
        var records = HubRecords()
        records.apply(first.takeChanges())

        var second = HubStateTests.makeState()
        second.tracksChanges = true
        let later = t0.addingTimeInterval(30)
        let result = second.restore(records, now: later)
        #expect(result.activeWebhooks.map(\.id) == [active])
        let verifications = result.effects.compactMap { if case .verify(let s) = $0 { return s.id } else { return nil } }
        #expect(verifications == [pending])
        #expect(second.subscriptions[short] == nil)
        #expect(second.takeChanges().endedSubscriptions == [short])
        #expect(second.context(of: "t")?.current?.versionId == v2)
        #expect(second.context(of: "t")?.current?.contentKeys == ["Observation/o1"])
        #expect(second.knows(topic: "t"))
        // The restored version is the one to update against; the older one is stale.
        #expect(throws: HubError.self) { try second.publish(update(v1, observation: "o2"), now: later) }
        let effects = try second.publish(update(v2, observation: "o2"), now: later)
        guard case .deliver(let n, let to)? = effects.first else { throw TestFailure("the update was not delivered") }
        #expect(n.event.priorVersionId == v2)
        #expect(to == [active])
    }

    @Test("What a store keeps survives being written out: records encoded as JSON and read back restore the same context, versionId, content and webhook subscription")
    func recordsAreCodable() throws {
        var first = HubStateTests.makeState()
        first.tracksChanges = true
        let hook = SubscriptionID("hook")
        _ = try first.subscribe(webhook(), flavor: .stu2, now: t0, newID: hook)
        first.verified(hook, success: true)
        let v1 = try #require(try accepted(first.publish(reportOpen(), now: t0)).event.versionId)
        let v2 = try #require(try accepted(first.publish(update(v1, observation: "o1"), now: t0)).event.versionId)
        var records = HubRecords()
        records.apply(first.takeChanges())
        let data = try JSONEncoder().encode(records)
        let read = try JSONDecoder().decode(HubRecords.self, from: data)
        #expect(read.subscriptions == records.subscriptions)
        var second = HubStateTests.makeState()
        let result = second.restore(read, now: t0)
        #expect(result.activeWebhooks.map(\.id) == [hook])
        #expect(result.activeWebhooks.first?.channel == .webhook(callback: "http://127.0.0.1:9/hook", secret: "s3cret"))
        #expect(second.context(of: "t")?.current?.versionId == v2)
        #expect(second.context(of: "t")?.current?.contentKeys == ["Observation/o1"])
        #expect(second.context(of: "t")?.current?.open.id == "o")
    }

    @Test("A topic changed before the records came back keeps its newer context")
    func restoreKeepsNewer() throws {
        var first = HubStateTests.makeState()
        first.tracksChanges = true
        _ = try first.publish(reportOpen("old"), now: t0)
        var records = HubRecords()
        records.apply(first.takeChanges())
        var second = HubStateTests.makeState()
        _ = try second.publish(base.open(patient: "newer", id: "n"), now: t0)
        _ = second.restore(records, now: t0)
        #expect(second.context(of: "t")?.current?.anchorID == "Patient/newer")
    }

    @Test("C26 across nodes: an event accepted by one node reaches the other's subscribers with the same id and versions, and the other's context follows it in the topic's order; a copy that missed an event reports the gap and stays as it was")
    func replicate() throws {
        var a = HubStateTests.makeState()
        var b = HubStateTests.makeState()
        let sub = try base.connected(&b, events: ["DiagnosticReport-open", "DiagnosticReport-update"], id: "b1")
        let open = try accepted(a.publish(reportOpen(), now: t0))
        #expect(a.context(of: "t")?.sequence == 1)
        let upd = try accepted(a.publish(update(try #require(open.event.versionId), observation: "o1"), now: t0))
        #expect(a.context(of: "t")?.sequence == 2)
        for (event, number) in [(open, Int64(1)), (upd, 2)] {
            let (effects, follow) = b.replicate(event, sequence: number, now: t0)
            #expect(follow == .applied)
            guard case .deliver(let n, let to)? = effects.first else { throw TestFailure("not delivered on b") }
            #expect(n.id == event.id)
            #expect(n.event.versionId == event.event.versionId)
            #expect(to == [sub])
        }
        #expect(b.context(of: "t")?.current?.versionId == upd.event.versionId)
        #expect(b.context(of: "t")?.current?.contentKeys == ["Observation/o1"])
        #expect(b.context(of: "t")?.sequence == 2)
        // Again (a copy already ahead): delivered, the copy unchanged.
        #expect(b.replicate(upd, sequence: 2, now: t0).follow == .alreadyAhead)
        // A node that missed an event still delivers what another accepted; its copy stays as it was and the gap is
        // reported with the number it waits for.
        var c = HubStateTests.makeState()
        let late = try base.connected(&c, events: ["DiagnosticReport-update"], id: "c1")
        let (effects, follow) = c.replicate(upd, sequence: 2, now: t0)
        #expect(follow == .gap(expected: 1))
        guard case .deliver(_, let to)? = effects.first else { throw TestFailure("not delivered on c") }
        #expect(to == [late])
        #expect(c.context(of: "t")?.current == nil)
        // Catching up: the store's copy is taken when it is newer, not when it is older.
        c.adopt("t", a.context(of: "t"), now: t0)
        #expect(c.context(of: "t")?.sequence == 2)
        var older = try #require(a.context(of: "t"))
        older.sequence = 1
        c.adopt("t", older, now: t0)
        #expect(c.context(of: "t")?.sequence == 2)
    }

    @Test("Each change of a topic names the number it was made over (its basis): the first change's, however many follow before the store is written")
    func basis() throws {
        var state = HubStateTests.makeState()
        state.tracksChanges = true
        let v1 = try #require(try accepted(state.publish(reportOpen(), now: t0)).event.versionId)
        var changes = state.takeChanges()
        #expect(changes.topicBasis == ["t": 0])
        #expect(changes.savedTopics["t"]?.sequence == 1)
        let v2 = try #require(try accepted(state.publish(update(v1, observation: "a"), now: t0)).event.versionId)
        _ = try state.publish(update(v2, observation: "b"), now: t0)
        changes = state.takeChanges()
        #expect(changes.topicBasis == ["t": 1])
        #expect(changes.savedTopics["t"]?.sequence == 3)
        var merged = HubChanges()
        merged.topicBasis = ["t": 1]
        var later = HubChanges()
        later.topicBasis = ["t": 3, "u": 0]
        merged.merge(later)
        #expect(merged.topicBasis == ["t": 1, "u": 0])
        #expect(merged.removing(topics: ["t"]).topicBasis == ["u": 0])
    }

    @Test("Batches written as one: the later change of a topic or subscription wins, a save after a forget is a save, a forget after a save is a forget")
    func mergeBatches() throws {
        var state = HubStateTests.makeState()
        state.tracksChanges = true
        let ctx = TopicContext(now: t0)
        let sub = try state.subscribe(webhook(), flavor: .stu2, now: t0, newID: SubscriptionID("w")).subscription
        var first = HubChanges()
        first.savedTopics = ["a": ctx, "b": ctx]
        first.forgottenTopics = ["c"]
        first.savedSubscriptions = [sub.id: sub]
        var later = HubChanges()
        later.forgottenTopics = ["a"]
        later.savedTopics = ["c": ctx]
        later.endedSubscriptions = [sub.id]
        first.merge(later)
        #expect(Set(first.savedTopics.keys) == ["b", "c"])
        #expect(first.forgottenTopics == ["a"])
        #expect(first.savedSubscriptions.isEmpty)
        #expect(first.endedSubscriptions == [sub.id])
        var records = HubRecords(topics: ["a": ctx], subscriptions: [sub.id: sub])
        records.apply(first)
        #expect(Set(records.topics.keys) == ["b", "c"])
        #expect(records.subscriptions.isEmpty)
        // And back: a subscription ended then saved again is saved.
        var again = HubChanges()
        again.savedSubscriptions = [sub.id: sub]
        first.merge(again)
        #expect(first.endedSubscriptions.isEmpty)
        #expect(first.savedSubscriptions[sub.id] == sub)
    }

    @Test("C46 when the store refuses a change: the topic takes the stored context and versionId again, a topic the store never had is gone, a new webhook subscription is removed; nothing is recorded as changed")
    func revertToStored() throws {
        var state = HubStateTests.makeState()
        state.tracksChanges = true
        let v1 = try #require(try accepted(state.publish(reportOpen(), now: t0)).event.versionId)
        var durable = HubRecords()
        durable.apply(state.takeChanges())

        _ = try accepted(state.publish(update(v1, observation: "lost"), now: t0))
        let hook = try state.subscribe(webhook(topic: "new"), flavor: .stu2, now: t0, newID: SubscriptionID("w")).subscription
        _ = try state.publish(base.open("other", patient: "p2", id: "x"), now: t0)
        let failed = state.takeChanges()
        #expect(Set(failed.savedTopics.keys) == ["t", "other"])
        let generation = state.knownTopicsGeneration

        state.revert(failed, to: durable, now: t0)
        #expect(state.context(of: "t")?.current?.versionId == v1)
        #expect(state.context(of: "t")?.current?.contentKeys == [])
        #expect(state.context(of: "other") == nil)
        #expect(!state.knows(topic: "other"))
        #expect(state.subscriptions[hook.id] == nil)
        #expect(!state.knows(topic: "new"))
        #expect(state.knownTopicsGeneration != generation)
        #expect(state.takeChanges().isEmpty)
        // The stored version is the one to update against again.
        #expect(throws: Never.self) { try state.publish(update(v1, observation: "again"), now: t0) }
    }

    @Test("C33 with a store that refused the change: the deliveries withdrawn await no ACK, so the subscriber is not dropped for an event it never got; an ACK of a delivery made still counts")
    func withdrawnDeliveriesAwaitNoAck() throws {
        var state = HubStateTests.makeState { $0.ackTimeoutSeconds = 10 }
        let sub = try base.connected(&state, events: ["Patient-open", "SyncError"], id: "s")
        let made = try state.publish(base.open(patient: "p1", id: "made"), now: t0)
        let refused = try state.publish(base.open(patient: "p2", id: "refused"), now: t0)
        #expect(state.pendingAckCount == 2)
        state.withdraw(refused)
        #expect(state.pendingAckCount == 1)
        #expect(state.acknowledged(sub, eventID: "made", status: 200, now: t0).isEmpty)
        #expect(state.expire(now: t0.addingTimeInterval(11)).isEmpty)
        #expect(state.subscriptions[sub]?.state == .active)
        #expect(base.targets(made) == [[sub]])
    }

    @Test("C29 with a change withdrawn: what its deliveries would have shown is not counted as shown, so the next event implies those opens again; the subscriber's last event is not the withdrawn one")
    func withdrawnDeliveriesShowNothing() throws {
        var state = HubStateTests.makeState()
        let patientOnly = try base.connected(&state, events: ["Patient-open"], id: "p")
        let withdrawn = try state.publish(base.encounterOpen("e1", patient: "P", id: "x1"), now: t0)
        #expect(base.targets(withdrawn) == [[], [patientOnly]])  // no one takes the Encounter-open; the implied Patient-open
        state.withdraw(withdrawn)
        #expect(state.subscriptions[patientOnly]?.shownAnchors["patient"] == nil)
        #expect(state.subscriptions[patientOnly]?.lastEvent == nil)
        // The patient was never shown: the next Encounter-open implies it again.
        #expect(base.targets(try state.publish(base.encounterOpen("e2", patient: "P", id: "x2"), now: t0)) == [[], [patientOnly]])
    }

    @Test("A publish made again (redo) over the store's context: the first attempt's delivery withdrawn, the remade one tracked; one ACK settles it")
    func redoneDeliveryTrackedOnce() throws {
        var state = HubStateTests.makeState { $0.ackTimeoutSeconds = 10 }
        let sub = try base.connected(&state, events: ["Patient-open"], id: "s")
        let first = try state.publish(base.open(patient: "p", id: "e"), now: t0)
        state.withdraw(first)
        _ = try state.publish(base.open(patient: "p", id: "e"), now: t0)
        #expect(state.pendingAckCount == 1)
        #expect(state.acknowledged(sub, eventID: "e", status: 200, now: t0).isEmpty)
        #expect(state.expire(now: t0.addingTimeInterval(11)).isEmpty)
        #expect(state.subscriptions[sub]?.state == .active)
    }
}
