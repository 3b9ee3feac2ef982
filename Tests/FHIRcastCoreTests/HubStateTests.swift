import Foundation
import Synchronization
import Testing

@testable import FHIRcastCore

/// The hub state driven directly: no sockets, a fake clock, deterministic ids.
@Suite("Hub state")
struct HubStateTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func makeState(_ configure: (inout HubConfiguration) -> Void = { _ in }) -> HubState {
        var config = HubConfiguration()
        configure(&config)
        let counter = Mutex(0)
        return HubState(config: config) {
            counter.withLock { $0 += 1; return "id-\($0)" }
        }
    }

    func request(topic: String = "t", events: [String], lease: Int? = nil, name: String? = nil) -> SubscriptionRequest {
        SubscriptionRequest(mode: .subscribe, topic: topic, events: events, channelType: .websocket, leaseSeconds: lease, subscriberName: name)
    }

    func connected(_ state: inout HubState, topic: String = "t", events: [String], name: String? = nil, id: String) throws -> SubscriptionID {
        let sid = SubscriptionID(id)
        _ = try state.subscribe(request(topic: topic, events: events, name: name), flavor: .stu3, now: t0, newID: sid)
        _ = try state.connect(sid, now: t0)
        return sid
    }

    func open(_ topic: String = "t", patient: String, id: String) -> EventNotification {
        EventNotification(
            timestamp: "2026-01-01T00:00:00Z", id: id,
            event: Event(topic: topic, name: "Patient-open", context: [["key": "patient", "resource": ["resourceType": "Patient", "id": .string(patient)]]]))
    }

    func targets(_ effects: [HubEffect]) -> [[SubscriptionID]] {
        effects.compactMap { if case .deliver(_, let to) = $0 { return to.sorted { $0.raw < $1.raw } } else { return nil } }
    }

    @Test("C19 C26: deliveries go to the active subscribers of the event only")
    func deliveryTargets() throws {
        var state = Self.makeState()
        let a = try connected(&state, events: ["Patient-open"], id: "a")
        _ = try connected(&state, events: ["Patient-close"], id: "b")
        _ = try state.subscribe(request(events: ["Patient-open"]), flavor: .stu3, now: t0, newID: SubscriptionID("pending"))
        let effects = try state.publish(open(patient: "p", id: "e1"), now: t0)
        #expect(targets(effects) == [[a]])
    }

    @Test("C20: leases expire; the active subscriber is denied, the lease is capped")
    func leases() throws {
        var state = Self.makeState { $0.maxLeaseSeconds = 100 }
        let sid = SubscriptionID("a")
        let r = try state.subscribe(request(events: ["Patient-open"], lease: 1000), flavor: .stu3, now: t0, newID: sid)
        #expect(r.subscription.leaseSeconds == 100)
        _ = try state.connect(sid, now: t0)
        #expect(state.expire(now: t0.addingTimeInterval(99)).isEmpty)
        let effects = state.expire(now: t0.addingTimeInterval(100))
        guard case .deny(let sub, let reason)? = effects.first else { Issue.record("no denial"); return }
        #expect(sub.id == sid && reason == "lease expired")
        #expect(state.subscriptions.isEmpty)
    }

    @Test("C17: re-subscribing keeps the id, replaces the events and renews the lease")
    func resubscribe() throws {
        var state = Self.makeState()
        let sid = try connected(&state, events: ["Patient-open"], id: "a")
        var again = request(events: ["Patient-close"], lease: 50)
        again.endpoint = "ws://h/fhircast/ws/a"
        let r = try state.subscribe(again, flavor: .stu3, now: t0.addingTimeInterval(10))
        #expect(!r.created && r.subscription.id == sid && r.subscription.events == ["Patient-close"])
        // The old lease entry is stale and ignored; the new one expires at t0+60.
        #expect(state.expire(now: t0.addingTimeInterval(59)).isEmpty)
        #expect(!state.expire(now: t0.addingTimeInterval(60)).isEmpty)
    }

    @Test("C33: an unacknowledged event times out into a SyncError to others and a denial of the silent one")
    func ackTimeout() throws {
        var state = Self.makeState { $0.ackTimeoutSeconds = 10 }
        let watcher = try connected(&state, events: ["Patient-open", "SyncError"], id: "w")
        let silent = try connected(&state, events: ["Patient-open"], name: "Silent", id: "s")
        _ = try state.publish(open(patient: "p", id: "e1"), now: t0)
        #expect(state.acknowledged(watcher, eventID: "e1", status: 200, now: t0).isEmpty)
        #expect(state.expire(now: t0.addingTimeInterval(9.9)).isEmpty)
        let effects = state.expire(now: t0.addingTimeInterval(10))
        #expect(targets(effects) == [[watcher]])
        #expect(effects.contains { if case .deny(let s, _) = $0 { s.id == silent } else { false } })
        #expect(state.subscriptions[silent] == nil)
        #expect(state.pendingAckCount == 0)
    }

    @Test("C30 C33: ACKs in any order settle their own events; the timeout names the oldest event still unacknowledged")
    func ackOrder() throws {
        var state = Self.makeState { $0.ackTimeoutSeconds = 10 }
        let s = try connected(&state, events: ["Patient-open"], name: "S", id: "s")
        _ = try state.publish(open(patient: "p1", id: "e1"), now: t0)
        _ = try state.publish(open(patient: "p2", id: "e2"), now: t0.addingTimeInterval(1))
        _ = try state.publish(open(patient: "p3", id: "e3"), now: t0.addingTimeInterval(2))
        #expect(state.acknowledged(s, eventID: "e2", status: 200, now: t0).isEmpty)
        #expect(state.acknowledged(s, eventID: "e1", status: 200, now: t0).isEmpty)
        #expect(state.pendingAckCount == 1)
        // e1's and e2's deadlines pass without effect; e3's does not.
        #expect(state.expire(now: t0.addingTimeInterval(11.5)).isEmpty)
        let effects = state.expire(now: t0.addingTimeInterval(12))
        guard case .deny(let sub, let reason)? = effects.last else { Issue.record("no denial"); return }
        #expect(sub.id == s && reason == "no acknowledgement of Patient-open within 10 s")
        #expect(state.pendingAckCount == 0)
    }

    @Test("C33: a subscriber that acknowledged everything is looked at again only for what it got later")
    func ackWatchMovesOn() throws {
        var state = Self.makeState { $0.ackTimeoutSeconds = 10 }
        let s = try connected(&state, events: ["Patient-open"], id: "s")
        _ = try state.publish(open(patient: "p1", id: "e1"), now: t0)
        #expect(state.acknowledged(s, eventID: "e1", status: 200, now: t0).isEmpty)
        _ = try state.publish(open(patient: "p2", id: "e2"), now: t0.addingTimeInterval(5))
        // e1's deadline: e1 came in, e2 is not due before t0 + 15.
        #expect(state.expire(now: t0.addingTimeInterval(10)).isEmpty)
        #expect(state.expire(now: t0.addingTimeInterval(14.9)).isEmpty)
        #expect(state.subscriptions[s] != nil)
        #expect(!state.expire(now: t0.addingTimeInterval(15)).isEmpty)
        #expect(state.subscriptions[s] == nil)
        // Once everything is acknowledged and due dates have passed, nothing is left to fire.
        let t = try connected(&state, topic: "u", events: ["Patient-open"], id: "t")
        _ = try state.publish(open("u", patient: "p3", id: "e3"), now: t0.addingTimeInterval(20))
        #expect(state.acknowledged(t, eventID: "e3", status: 200, now: t0).isEmpty)
        #expect(state.expire(now: t0.addingTimeInterval(40)).isEmpty)
        _ = try state.publish(open("u", patient: "p4", id: "e4"), now: t0.addingTimeInterval(41))
        #expect(state.expire(now: t0.addingTimeInterval(50.9)).isEmpty)
        #expect(!state.expire(now: t0.addingTimeInterval(51)).isEmpty)
    }

    @Test("C31: a refusal ACK produces a SyncError to the others; 2xx and unknown ids produce nothing")
    func refusal() throws {
        var state = Self.makeState()
        let a = try connected(&state, events: ["Patient-open", "syncerror"], id: "a")
        let b = try connected(&state, events: ["Patient-open", "syncerror"], name: "B", id: "b")
        _ = try state.publish(open(patient: "p", id: "e1"), now: t0)
        #expect(state.acknowledged(b, eventID: "nope", status: 500, now: t0).isEmpty)
        let effects = state.acknowledged(b, eventID: "e1", status: 409, now: t0)
        #expect(targets(effects) == [[a]])
        guard case .deliver(let n, _)? = effects.first else { return }
        #expect(n.event.name == "SyncError")
        #expect(n.event.context.first?["resource"]?["issue"]?.arrayValue?.first?["severity"] == "warning")
        // A second ACK for the same event is ignored.
        #expect(state.acknowledged(b, eventID: "e1", status: 409, now: t0).isEmpty)
    }

    @Test("C24 C33: 1000/1001 and a close frame without code are quiet; other closes produce a SyncError")
    func disconnects() throws {
        var state = Self.makeState()
        let w = try connected(&state, events: ["SyncError"], id: "w")
        let a = try connected(&state, events: ["Patient-open"], id: "a")
        #expect(state.disconnected(a, closeCode: 1001, now: t0).isEmpty)
        let b = try connected(&state, events: ["Patient-open"], id: "b")
        #expect(targets(state.disconnected(b, closeCode: nil, now: t0)) == [[w]])
        let c = try connected(&state, events: ["Patient-open"], id: "c")
        #expect(targets(state.disconnected(c, closeCode: 4000, now: t0)) == [[w]])
        // A removed subscription's socket closing later is quiet.
        #expect(state.disconnected(c, closeCode: 4000, now: t0).isEmpty)
    }

    @Test("C35: a request the hub accepted and then rejects gets a SyncError to the requester alone")
    func rejectAccepted() throws {
        var state = Self.makeState()
        let requester = try connected(&state, events: ["Patient-open"], id: "r")
        _ = try connected(&state, events: ["SyncError"], id: "other")
        let effects = state.rejectAccepted(open(patient: "p", id: "e9"), requester: requester, diagnostics: "upstream down", now: t0)
        #expect(targets(effects) == [[requester]])
    }

    @Test("C15 C18: connecting twice is refused; a late joiner gets the latest open per anchor type")
    func connectAndReplay() throws {
        var state = Self.makeState()
        _ = try state.publish(open(patient: "A", id: "o1"), now: t0)
        _ = try state.publish(open(patient: "B", id: "o2"), now: t0)
        let sid = SubscriptionID("late")
        _ = try state.subscribe(request(events: ["patient-open"]), flavor: .stu3, now: t0, newID: sid)
        let r = try state.connect(sid, now: t0)
        #expect(r.replay.map(\.id) == ["o2"])
        #expect(r.replay.first?.event.versionId != nil)
        #expect(throws: HubError.self) { try state.connect(sid, now: t0) }
        #expect(throws: HubError.self) { try state.connect(SubscriptionID("unknown"), now: t0) }
    }

    @Test("Caps: subscriptions beyond the maximum get a 503; idle topics are forgotten")
    func caps() throws {
        var state = Self.makeState {
            $0.maxSubscriptions = 2
            $0.topicIdleSeconds = 100
        }
        _ = try state.subscribe(request(events: ["Patient-open"]), flavor: .stu3, now: t0, newID: SubscriptionID("1"))
        _ = try state.subscribe(request(events: ["Patient-open"]), flavor: .stu3, now: t0, newID: SubscriptionID("2"))
        #expect(throws: HubError.self) { try state.subscribe(request(events: ["Patient-open"]), flavor: .stu3, now: t0, newID: SubscriptionID("3")) }
        _ = try state.publish(open("lonely", patient: "p", id: "x"), now: t0)
        #expect(state.context(of: "lonely") != nil)
        _ = state.expire(now: t0.addingTimeInterval(200))
        #expect(state.context(of: "lonely") == nil)
    }

    @Test("C46 C47: updates are compare-and-set on the versionId")
    func contentSharing() throws {
        var state = Self.makeState()
        let reportOpen = EventNotification(
            timestamp: "2026-01-01T00:00:00Z", id: "o",
            event: Event(topic: "t", name: "DiagnosticReport-open", context: [["key": "report", "resource": ["resourceType": "DiagnosticReport", "id": "r"]], ["key": "patient", "resource": ["resourceType": "Patient", "id": "p"]]]))
        guard case .deliver(let opened, _)? = try state.publish(reportOpen, now: t0).first else { Issue.record("no delivery"); return }
        let v1 = try #require(opened.event.versionId)
        func update(_ version: String, _ id: String) -> EventNotification {
            EventNotification(
                timestamp: "2026-01-01T00:00:01Z", id: id,
                event: Event(
                    topic: "t", name: "DiagnosticReport-update",
                    context: [
                        ["key": "report", "reference": ["reference": "DiagnosticReport/r"]],
                        ["key": "updates", "resource": ["resourceType": "Bundle", "id": "b", "type": "transaction", "entry": [["request": ["method": "PUT"], "resource": ["resourceType": "Observation", "id": .string(id)]]]]],
                    ], versionId: version))
        }
        guard case .deliver(let u, _)? = try state.publish(update(v1, "u1"), now: t0).first else { Issue.record("no delivery"); return }
        #expect(u.event.priorVersionId == v1)
        #expect(u.event.versionId != v1)
        #expect(throws: HubError.self) { try state.publish(update(v1, "u2"), now: t0) }
        #expect(state.context(of: "t")?.current?.contentKeys == ["Observation/u1"])
    }

    @Test("Renewing a lease in a loop does not grow the lease heap without bound")
    func leaseHeapBounded() throws {
        var state = Self.makeState()
        _ = try connected(&state, events: ["Patient-open"], id: "a")
        var again = request(events: ["Patient-open"], lease: 7000)
        again.endpoint = "a"
        for i in 0..<5000 {
            _ = try state.subscribe(again, flavor: .stu3, now: t0.addingTimeInterval(Double(i)))
        }
        #expect(state.leaseEntryCount <= 1026)
        // The live lease still expires at the right time.
        #expect(state.expire(now: t0.addingTimeInterval(4999 + 6999)).isEmpty)
        #expect(!state.expire(now: t0.addingTimeInterval(4999 + 7000)).isEmpty)
    }

    func encounterOpen(_ encounter: String, patient: String, id: String) -> EventNotification {
        EventNotification(
            timestamp: "2026-01-01T00:00:05Z", id: id,
            event: Event(
                topic: "t", name: "Encounter-open",
                context: [
                    ["key": "encounter", "resource": ["resourceType": "Encounter", "id": .string(encounter)]],
                    ["key": "patient", "resource": ["resourceType": "Patient", "id": .string(patient)]],
                ]))
    }

    @Test("C29: an Encounter-open implies a Patient-open for subscribers of Patient-open only, once per open patient")
    func impliedOpens() throws {
        var state = Self.makeState()
        let patientOnly = try connected(&state, events: ["Patient-open"], id: "p")
        let both = try connected(&state, events: ["Patient-open", "Encounter-open"], id: "b")
        let effects = try state.publish(encounterOpen("e1", patient: "P", id: "x1"), now: t0)
        #expect(targets(effects) == [[both], [patientOnly]])
        guard case .deliver(let derived, _)? = effects.last else { Issue.record("no implied open"); return }
        #expect(derived.event.name == "Patient-open")
        #expect(derived.id != "x1")
        #expect(derived.timestamp == "2026-01-01T00:00:05Z")
        #expect(derived.event.context.first?["resource"]?["id"] == "P")
        // The same patient again: no duplicate.
        #expect(targets(try state.publish(encounterOpen("e2", patient: "P", id: "x2"), now: t0)) == [[both]])
        // Another patient: implied again.
        #expect(targets(try state.publish(encounterOpen("e3", patient: "Q", id: "x3"), now: t0)) == [[both], [patientOnly]])
        // After Q is closed, opening Q again implies it again.
        _ = try state.publish(EventNotification(timestamp: "2026-01-01T00:00:06Z", id: "c", event: Event(topic: "t", name: "Patient-close", context: [["key": "patient", "resource": ["resourceType": "Patient", "id": "Q"]]])), now: t0)
        #expect(targets(try state.publish(encounterOpen("e4", patient: "Q", id: "x4"), now: t0)) == [[both], [patientOnly]])
    }

    @Test("C29: ImpliedOpens of a DiagnosticReport-open: Patient, Encounter and ImagingStudy with their related keys")
    func impliedOfReport() {
        let event = Event(
            topic: "t", name: "DiagnosticReport-open",
            context: [
                ["key": "report", "resource": ["resourceType": "DiagnosticReport", "id": "r"]],
                ["key": "patient", "resource": ["resourceType": "Patient", "id": "p"]],
                ["key": "study", "resource": ["resourceType": "ImagingStudy", "id": "s"]],
            ])
        let implied = ImpliedOpens.of(event)
        #expect(implied.map(\.eventName) == ["Patient-open", "ImagingStudy-open"])
        #expect(implied.map(\.anchorID) == ["Patient/p", "ImagingStudy/s"])
        #expect(implied.last?.context.compactMap { $0["key"]?.stringValue } == ["study", "patient"])
        #expect(ImpliedOpens.of(Event(topic: "t", name: "Patient-close", context: event.context)).isEmpty)
    }

    @Test("C36: knownTopics is the topics with a subscription or a kept context; its generation moves only when that set does")
    func knownTopicsGeneration() throws {
        var state = Self.makeState { $0.topicIdleSeconds = 100 }
        var seen = state.knownTopicsGeneration
        func changed(_ state: HubState) -> Bool {
            defer { seen = state.knownTopicsGeneration }
            return state.knownTopicsGeneration != seen
        }
        _ = try state.subscribe(request(topic: "a", events: ["Patient-open"]), flavor: .stu3, now: t0, newID: SubscriptionID("1"))
        #expect(changed(state) && state.knownTopics == ["a"])
        _ = try state.subscribe(request(topic: "a", events: ["Patient-close"]), flavor: .stu3, now: t0, newID: SubscriptionID("2"))
        #expect(!changed(state))
        _ = try state.publish(open("a", patient: "p", id: "e1"), now: t0)
        #expect(!changed(state))
        _ = try state.publish(open("b", patient: "p", id: "e2"), now: t0)
        #expect(changed(state) && state.knownTopics == ["a", "b"])
        _ = try state.subscribe(request(topic: "c", events: ["Patient-open"]), flavor: .stu3, now: t0, newID: SubscriptionID("3"))
        #expect(changed(state) && state.knownTopics == ["a", "b", "c"])
        // The subscriptions go (none connected): c had no context, so it is no longer known; a keeps its context.
        _ = state.expire(now: t0.addingTimeInterval(HubConfiguration().connectTimeoutSeconds + 1))
        #expect(changed(state) && state.knownTopics == ["a", "b"])
        // The idle sweep forgets contexts without subscribers.
        _ = state.expire(now: t0.addingTimeInterval(200))
        #expect(changed(state) && state.knownTopics.isEmpty)
    }
}
