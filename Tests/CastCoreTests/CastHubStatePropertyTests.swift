import CastCore
import FHIRcastCore
import OrderedCollections
import TestSupport
import Testing

/// The embedded Cast hub's routing under random sequences of subscribe, bind, unbind, unsubscribe and publish, from
/// fixed seeds (issue #16): each publish reaches exactly the bound sockets a small independent model says it should
/// (topic or `*`, the event or `*`, not the publisher, the target filters), each at most once; an unbound or removed
/// subscription gets nothing; what the hub holds is what was subscribed and not removed.
@Suite("Cast hub state properties")
struct CastHubStatePropertyTests {
    struct Model {
        var topic: String
        var events: [String]
        var name: String
        var actors: [String]
        var bound = false
    }

    @Test("Random sequences route every publish to exactly the subscriptions it is for", arguments: 0..<40)
    func randomSequences(seed: Int) throws {
        var random = SplitMix64(seed: UInt64(seed) &* 31 &+ 7)
        var state = CastHubState()
        var model: [String: Model] = [:]
        var next = 0
        var deliveries = 0
        let names = ["viewer", "Viewer", "worklist", "seg"]
        for step in 0..<300 {
            switch random.next(upTo: 10) {
            case 0, 1, 2:
                let topic = ["t1", "t2", "*"][random.next(upTo: 3)]
                let events = [["imagingstudy-open"], ["patient-open", "imagingstudy-open"], ["*"], ["status-request"]][random.next(upTo: 4)]
                let name = names[random.next(upTo: names.count)]
                let actors = [["ID"], ["EC"], []][random.next(upTo: 3)]
                let endpoint = "ep-\(next)"
                next += 1
                var fields: [String: JSONValue] = [
                    "hub.mode": "subscribe", "hub.channel.type": "websocket", "hub.topic": .string(topic),
                    "hub.events": .string(events.joined(separator: ",")), "subscriber.name": .string(name),
                ]
                if !actors.isEmpty { fields["subscriber.actors"] = .array(actors.map(JSONValue.string)) }
                guard (try? state.subscribe(CastFields(fields), endpoint: endpoint)) != nil else {
                    Issue.record("seed \(seed) step \(step): a valid subscription was refused")
                    continue
                }
                model[endpoint] = Model(topic: topic, events: events, name: name, actors: actors)
            case 3:
                guard let endpoint = model.keys.sorted().randomElement(using: &random) else { continue }
                _ = state.bind(endpoint)
                model[endpoint]?.bound = true
            case 4:
                guard let endpoint = model.keys.sorted().randomElement(using: &random) else { continue }
                _ = state.unbind(endpoint)
                model[endpoint] = nil
            default:
                let topic = ["t1", "t2"][random.next(upTo: 2)]
                let event = ["imagingstudy-open", "patient-open", "status-request"][random.next(upTo: 3)]
                let publisher = names[random.next(upTo: names.count)]
                var envelope: [String: JSONValue] = [
                    "id": .string("m-\(step)"), "subscriber.name": .string(publisher),
                    "event": ["hub.topic": .string(topic), "hub.event": .string(event), "context": []],
                ]
                let targetActor = [nil, "ID", "EC"][random.next(upTo: 3)]
                let targetSubscriber = random.next(upTo: 5) == 0 ? names[random.next(upTo: names.count)] : nil
                if let targetActor { envelope["target.actor"] = .string(targetActor) }
                if let targetSubscriber { envelope["target.subscriber.name"] = .string(targetSubscriber) }
                guard let delivery = try? state.publish(.object(envelope), host: nil) else {
                    Issue.record("seed \(seed) step \(step): a valid publish was refused")
                    continue
                }
                let expected = Set(model.filter { endpoint, sub in
                    sub.bound && (sub.topic == topic || sub.topic == "*") && (sub.events.contains(event) || sub.events.contains("*"))
                        && sub.name.lowercased() != publisher.lowercased()
                        && (targetActor.map { sub.actors.contains($0) } ?? true)
                        && (targetSubscriber.map { sub.name.lowercased() == $0.lowercased() } ?? true)
                }.keys)
                #expect(delivery.endpoints.count == Set(delivery.endpoints).count, "seed \(seed) step \(step): an endpoint twice")
                #expect(Set(delivery.endpoints) == expected, "seed \(seed) step \(step): routed to \(delivery.endpoints.sorted()), expected \(expected.sorted())")
                deliveries += delivery.endpoints.count
            }
            #expect(Set(state.subscriptions.values.map(\.endpoint)) == Set(model.keys), "seed \(seed) step \(step): the hub holds other subscriptions than the model")
        }
        #expect(deliveries > 20, "seed \(seed): the run routed too little (\(deliveries))")
    }
}
