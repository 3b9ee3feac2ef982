import HeapModule
import Foundation

/// The hub's durable part: which changes a store must write, and taking back what it kept.
extension HubState {
    /// A topic's context changed or was forgotten (recorded only while `tracksChanges`).
    mutating func noteTopic(_ topic: String, basis: Int64) {
        guard tracksChanges, changedTopics[topic] == nil else { return }
        changedTopics[topic] = basis
    }

    /// A webhook subscription was created, changed or ended (recorded only while `tracksChanges`).
    mutating func noteSubscription(_ sub: Subscription) {
        guard tracksChanges, !sub.isWebSocket || tracksSocketSubscriptions else { return }
        changedSubscriptions.insert(sub.id)
    }

    /// What changed since the last call, read from the state as it is now: a topic changed twice is written once.
    public mutating func takeChanges() -> HubChanges {
        var changes = HubChanges()
        for (topic, basis) in changedTopics {
            if let ctx = topics[topic] { changes.savedTopics[topic] = ctx } else { changes.forgottenTopics.insert(topic) }
            changes.topicBasis[topic] = basis
        }
        for id in changedSubscriptions {
            if let sub = subscriptions[id] { changes.savedSubscriptions[id] = sub } else { changes.endedSubscriptions.insert(id) }
        }
        changedTopics.removeAll(keepingCapacity: true)
        changedSubscriptions.removeAll(keepingCapacity: true)
        return changes
    }

    public struct RestoreResult: Sendable {
        /// Verifications to send again: subscriptions whose intent was not yet confirmed when the state was kept.
        public var effects: [HubEffect]
        /// Verified webhook subscriptions: the edge resumes their delivery.
        public var activeWebhooks: [Subscription]
    }

    /// Takes back what a store kept, at start, before any request. Topics count as active now (they are forgotten
    /// `topicIdleSeconds` after the restart at the earliest); a subscription whose lease ended meanwhile stays ended
    /// (and is recorded as ended, so that the store drops it).
    public mutating func restore(_ records: HubRecords, now: Date) -> RestoreResult {
        var result = RestoreResult(effects: [], activeWebhooks: [])
        // A topic that already changed here (an event that came before the records) keeps the newer context.
        for (topic, var ctx) in records.topics where topics[topic] == nil {
            ctx.lastActivity = now
            topics[topic] = ctx
        }
        for sub in records.subscriptions.values.sorted(by: { $0.expiresAt < $1.expiresAt }) {
            guard !sub.isWebSocket, subscriptions[sub.id] == nil else { continue }
            guard sub.expiresAt > now else {
                noteSubscription(sub)
                continue
            }
            var restored = sub
            restored.shownAnchors = [:]
            insert(restored)
            switch sub.state {
            case .active: result.activeWebhooks.append(restored)
            case .awaitingVerification, .awaitingConnection: result.effects.append(.verify(restored))
            }
        }
        knownTopicsGeneration &+= 1
        return result
    }

    /// A WebSocket subscription another node of a cluster answered, whose socket connects here (a load balancer does
    /// not follow the endpoint): this node takes it, waiting for its connection. Recorded, so that the store knows
    /// this node holds it now.
    public mutating func adopt(subscription sub: Subscription, now: Date) -> Bool {
        guard sub.isWebSocket, sub.state == .awaitingConnection, sub.expiresAt > now, subscriptions[sub.id] == nil else { return false }
        let known = knows(topic: sub.topic)
        insert(sub)
        if !known { knownTopicsGeneration &+= 1 }
        noteSubscription(sub)
        return true
    }

    mutating func insert(_ sub: Subscription) {
        subscriptions[sub.id] = sub
        byTopic[sub.topic, default: []].insert(sub.id)
        if let owner = sub.owner { byOwner[owner, default: 0] += 1 }
        leases.insert(Due(at: sub.expiresAt, id: sub.id))
    }

    /// Undoes changes the store could not keep, back to what it holds (`durable`): each topic they touched takes the
    /// stored context again (or none), and a webhook subscription they created is removed without a denial (its
    /// subscribe was answered 503). A renewal or an ending stays as it is in memory. Nothing is recorded as changed.
    /// Deliveries planned with a change and never made (the store refused the change, or it is made again over the
    /// store's context): the hub awaits no ACK for them, so a subscriber is not dropped for an event it never got, and
    /// what they would have shown does not count as shown (the next event implies those opens again) nor as the
    /// subscriber's last event. Other effects are left alone.
    public mutating func withdraw(_ effects: [HubEffect]) {
        for case .deliver(let n, let targets) in effects {
            let shown = ImpliedOpens.shown(by: n.event)
            for id in targets {
                if var track = pendingAcks[id], let i = track.pending.lastIndex(where: { $0.eventID == n.id }) {
                    track.pending.remove(at: i)
                    pendingAcks[id] = track
                }
                guard let slot = subscriptions.index(forKey: id) else { continue }
                Self.update(&subscriptions.values[slot]) { sub in
                    for (type, anchor) in shown where sub.shownAnchors[type] == anchor { sub.shownAnchors.removeValue(forKey: type) }
                    if sub.lastEventID == n.id { sub.lastEvent = nil }
                }
            }
        }
    }

    public mutating func revert(_ changes: HubChanges, to durable: HubRecords, now: Date) {
        let tracking = tracksChanges
        tracksChanges = false
        defer { tracksChanges = tracking }
        for topic in Set(changes.savedTopics.keys).union(changes.forgottenTopics) {
            let hadTopic = knows(topic: topic)
            if var ctx = durable.topics[topic] {
                ctx.lastActivity = now
                topics[topic] = ctx
            } else {
                topics.removeValue(forKey: topic)
            }
            if hadTopic != knows(topic: topic) { knownTopicsGeneration &+= 1 }
        }
        for id in changes.savedSubscriptions.keys where durable.subscriptions[id] == nil {
            remove(id)
        }
    }
}
