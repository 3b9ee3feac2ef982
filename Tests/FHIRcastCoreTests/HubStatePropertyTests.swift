import Foundation
import Synchronization
import TestSupport
import Testing

@testable import FHIRcastCore

/// The hub state under random sequences of subscribe, connect, publish, ACK (and refusal), time passing, expiry and
/// disconnect, from fixed seeds, checked after every step against what FHIRcast promises (issue #16): every event
/// reaches each subscriber at most once and in publish order, only subscribers that are active on its topic and
/// asked for it get it, every accepted event reaches every such subscriber unless that subscriber is dropped with it,
/// an unacknowledged event outlives its ACK timeout by no more than one expiry pass, and what the hub holds stays
/// within its caps.
@Suite("Hub state properties")
struct HubStatePropertyTests {
    struct Model {
        var topic: String
        var events: Set<String>
        /// Published event ids delivered and not yet acknowledged, with when.
        var unacked: [String: Date] = [:]
        var delivered: Set<String> = []
        var lastPublishIndex = -1
    }

    static let names = ["Patient-open", "Patient-close", "SyncError"]

    @Test("Random sequences keep the hub's delivery promises", arguments: 0..<40)
    func randomSequences(seed: Int) throws {
        var random = SplitMix64(seed: UInt64(seed) &* 7919 &+ 1)
        var config = HubConfiguration()
        config.ackTimeoutSeconds = 10
        config.maxSubscriptionsPerTopic = 4
        let counter = Mutex(0)
        var state = HubState(config: config) { counter.withLock { $0 += 1; return "sub-\($0)" } }
        var now = Date(timeIntervalSince1970: 1_800_000_000)
        var live: [SubscriptionID: Model] = [:]
        var publishIndex: [String: Int] = [:]
        var published = 0
        var deliveries = 0
        var dropped = 0

        func take(_ effects: [HubEffect], step: String) {
            for effect in effects {
                switch effect {
                case .deliver(let n, let to):
                    for id in to {
                        guard var model = live[id] else {
                            Issue.record("seed \(seed) \(step): \(n.event.name) \(n.id) delivered to \(id.raw), which is not active")
                            continue
                        }
                        #expect(model.topic == n.event.topic, "seed \(seed) \(step): delivered across topics")
                        #expect(model.events.contains(n.event.name.lowercased()), "seed \(seed) \(step): \(n.event.name) to a subscriber that did not ask for it")
                        #expect(!model.delivered.contains(n.id), "seed \(seed) \(step): \(n.id) delivered twice to \(id.raw)")
                        model.delivered.insert(n.id)
                        deliveries += 1
                        if let index = publishIndex[n.id] {
                            #expect(index > model.lastPublishIndex, "seed \(seed) \(step): \(n.id) out of order for \(id.raw)")
                            model.lastPublishIndex = index
                            model.unacked[n.id] = now
                        }
                        live[id] = model
                    }
                case .deny(let sub, _):
                    if live.removeValue(forKey: sub.id) != nil { dropped += 1 }
                case .verify, .shareSyncError:
                    continue
                }
            }
        }

        func checkHolds(_ step: Int) {
            // What the hub serves is what the model holds, and within the caps.
            let active = Set(state.subscriptions.filter { $0.value.state == .active }.map(\.key))
            #expect(active == Set(live.keys), "seed \(seed) step \(step): the hub's active subscriptions differ from the model's")
            for topic in ["t1", "t2"] {
                #expect(state.subscriptions.values.filter { $0.topic == topic }.count <= config.maxSubscriptionsPerTopic)
            }
        }

        for step in 0..<300 {
            defer { checkHolds(step) }
            switch random.next(upTo: 10) {
            case 0, 1:  // a new subscriber connects
                let topic = ["t1", "t2"][random.next(upTo: 2)]
                var events = Self.names.filter { _ in random.next(upTo: 2) == 0 }
                if events.isEmpty { events = ["Patient-open"] }
                let request = SubscriptionRequest(mode: .subscribe, topic: topic, events: events, channelType: .websocket, leaseSeconds: 30 + random.next(upTo: 60))
                guard let result = try? state.subscribe(request, flavor: .stu3, now: now) else { continue }
                let id = result.subscription.id
                guard let connected = try? state.connect(id, now: now) else {
                    Issue.record("seed \(seed) step \(step): a fresh subscription could not connect")
                    continue
                }
                live[id] = Model(topic: topic, events: Set(events.map { $0.lowercased() }))
                take(state.replay(connected.replay, to: id, now: now), step: "replay")
            case 2, 3, 4:  // a publish
                let topic = ["t1", "t2"][random.next(upTo: 2)]
                let name = ["Patient-open", "Patient-close"][random.next(upTo: 2)]
                let id = "e-\(published)"
                published += 1
                let n = EventNotification(
                    timestamp: Timestamp.format(now), id: id,
                    event: Event(topic: topic, name: name, context: [["key": "patient", "resource": ["resourceType": "Patient", "id": .string("p\(random.next(upTo: 3))")]]]))
                let before = live.filter { $0.value.topic == topic && $0.value.events.contains(name.lowercased()) }.map(\.key)
                publishIndex[id] = published
                guard let effects = try? state.publish(n, now: now) else { continue }
                take(effects, step: "publish \(id)")
                let reached = Set(effects.flatMap { effect -> [SubscriptionID] in
                    if case .deliver(let d, let to) = effect, d.id == id { return to }
                    if case .deny(let s, _) = effect { return [s.id] }
                    return []
                })
                for sub in before where !reached.contains(sub) {
                    Issue.record("seed \(seed) step \(step): accepted \(id) neither reached \(sub.raw) nor dropped it")
                }
            case 5, 6:  // an ACK, sometimes a refusal
                guard let (id, model) = live.filter({ !$0.value.unacked.isEmpty }).sorted(by: { $0.key.raw < $1.key.raw }).first,
                    let event = model.unacked.keys.sorted().first
                else { continue }
                live[id]?.unacked[event] = nil
                let status = random.next(upTo: 8) == 0 ? 500 : 200
                take(state.acknowledged(id, eventID: event, status: status, now: now), step: "ack \(event) \(status)")
            case 7, 8:  // time passes
                now = now.addingTimeInterval(Double(1 + random.next(upTo: 8)))
                take(state.expire(now: now), step: "expire")
                for (id, model) in live {
                    for (event, at) in model.unacked where now.timeIntervalSince(at) > config.ackTimeoutSeconds + 0.001 {
                        Issue.record("seed \(seed) step \(step): \(id.raw) still holds \(event), unacknowledged for \(now.timeIntervalSince(at)) s")
                    }
                }
                // Leases: nothing past its lease is still served.
                for (id, _) in live where (state.subscriptions[id]?.expiresAt ?? .distantFuture) < now {
                    Issue.record("seed \(seed) step \(step): \(id.raw) outlived its lease")
                }
            default:  // a disconnect, clean or not
                guard let id = live.keys.sorted(by: { $0.raw < $1.raw }).dropFirst(random.next(upTo: max(1, live.count))).first else { continue }
                live[id] = nil
                take(state.disconnected(id, closeCode: random.next(upTo: 2) == 0 ? 1000 : 1006, now: now), step: "disconnect")
            }
        }
        // The run did what it is for: events went out, and some subscribers were dropped for silence or refusals.
        #expect(deliveries > 50, "seed \(seed): only \(deliveries) deliveries")
        #expect(dropped > 0, "seed \(seed): no subscriber was ever dropped")

    }
}
