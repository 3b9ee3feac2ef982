import DequeModule
import HeapModule
import Foundation

/// What time brings: ACK timeouts, lease expiries, connections that never came, idle topics; and shutdown.
extension HubState {
    // MARK: Timers

    /// Fires what is due: ACK timeouts (C33), lease expiries (C20), connections that never came, idle topics.
    public mutating func expire(now: Date) -> [HubEffect] {
        var effects: [HubEffect] = []
        while let due = ackWatch.min, due.at <= now {
            ackWatch.removeMin()
            let sid = due.id
            guard let oldest = pendingAcks[sid]?.pending.first else {
                pendingAcks[sid]?.watched = false  // everything came in (or the subscriber is gone)
                continue
            }
            guard oldest.deadline <= now else {
                ackWatch.insert(Due(at: oldest.deadline, id: sid))  // that one came in; watch the next
                continue
            }
            guard subscriptions[sid] != nil else {
                pendingAcks.removeValue(forKey: sid)
                continue
            }
            let secs = config.ackTimeoutSeconds
            let shown = secs == secs.rounded() ? String(Int(secs)) : String(secs)
            effects += unresponsive(
                sid, eventID: oldest.eventID, eventName: oldest.eventName,
                reason: "no acknowledgement of \(oldest.eventName) within \(shown) s", cause: .ackTimeout, now: now)
        }
        while let first = leases.min, first.at <= now {
            leases.removeMin()
            guard let sub = subscriptions[first.id], sub.expiresAt == first.at else { continue }
            remove(first.id)
            if sub.state == .active { effects.append(.deny(sub, reason: "lease expired")) }
        }
        while let first = connectQueue.first, first.deadline <= now {
            connectQueue.removeFirst()
            if let sub = subscriptions[first.id], sub.state == .awaitingConnection { remove(first.id) }
        }
        if lastTopicSweep.map({ now.timeIntervalSince($0) >= 60 }) ?? true {
            lastTopicSweep = now
            for (topic, ctx) in topics where (byTopic[topic] ?? []).isEmpty {
                if now.timeIntervalSince(ctx.lastActivity) >= config.topicIdleSeconds {
                    topics.removeValue(forKey: topic)
                    noteTopic(topic, basis: ctx.sequence)
                    knownTopicsGeneration &+= 1
                }
            }
        }
        return effects
    }

    /// Removes every subscription (shutdown). Returns them so that the edges can close their channels.
    /// What a store keeps is left as it is: a shutdown ends no subscription there.
    public mutating func removeAll() -> [Subscription] {
        tracksChanges = false
        let all = Array(subscriptions.values)
        for s in all { remove(s.id) }
        return all
    }
}
