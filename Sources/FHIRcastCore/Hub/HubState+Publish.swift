import DequeModule
import HeapModule
import Foundation

/// Publishing, delivery with its implied opens and SyncErrors, and ACKs (C26–C33, C38, C45–C51).
extension HubState {
    // MARK: ACKs

    /// An ACK frame `{id, status}` from a websocket subscriber (C30, C31). Unknown ids are ignored.
    public mutating func acknowledged(_ id: SubscriptionID, eventID: String, status: Int, now: Date) -> [HubEffect] {
        let taken: PendingAck? = Self.update(&pendingAcks[id]) { track in
            guard let i = track?.pending.firstIndex(where: { $0.eventID == eventID }) else { return nil }
            return track?.pending.remove(at: i)
        }
        guard let pending = taken else { return [] }
        if (200..<300).contains(status) { return [] }
        return refused(id, eventID: eventID, eventName: pending.eventName, status: status, now: now)
    }

    /// How long an ACK still awaited took since its event was sent (nil: not awaited, or ACK timeouts are off).
    public func ackWaited(_ id: SubscriptionID, eventID: String, now: Date) -> TimeInterval? {
        guard let pending = pendingAcks[id]?.pending.first(where: { $0.eventID == eventID }) else { return nil }
        return max(0, now.timeIntervalSince(pending.deadline) + config.ackTimeoutSeconds)
    }

    mutating func trackAck(_ id: SubscriptionID, _ n: EventNotification, now: Date) {
        guard config.ackTimeoutSeconds > 0, n.event.key != "syncerror" else { return }
        let deadline = now.addingTimeInterval(config.ackTimeoutSeconds)
        let pending = PendingAck(eventID: n.id, eventName: n.event.name, deadline: deadline)
        let watch = Self.update(&pendingAcks[id, default: AckTrack()]) { track in
            track.pending.append(pending)
            defer { track.watched = true }
            return !track.watched
        }
        if watch { ackWatch.insert(Due(at: deadline, id: id)) }
    }

    // MARK: Publish

    /// Accepts a context-change request: applies it to the topic's context and broadcasts it to every
    /// subscriber of the event, including the requester, with the request's id (C26, C27, C38, C45–C51).
    public mutating func publish(_ notification: EventNotification, now: Date) throws(HubError) -> [HubEffect] {
        if let problem = config.events.problem(withName: notification.event.name) { throw .badRequest(problem) }
        let topic = notification.event.topic
        var ctx: TopicContext
        if let existing = topics[topic] {
            ctx = existing
        } else {
            if byTopic[topic] == nil, topics.count >= config.maxTopics {
                throw .unavailable("the hub holds its maximum of \(config.maxTopics) topics; try again later")
            }
            ctx = TopicContext(now: now)
        }
        let makeID = self.makeID
        let basis = ctx.sequence
        let outgoing = try ctx.apply(notification, now: now, config: config, newVersion: makeID)
        ctx.sequence = basis + 1
        if !knows(topic: topic) { knownTopicsGeneration &+= 1 }
        topics[topic] = ctx
        noteTopic(topic, basis: basis)
        return deliverEffects(outgoing, now: now)
    }

    /// What `replicate` did with this node's copy of the topic's context.
    public enum Follow: Sendable, Equatable {
        /// The event was the next in the topic's order: the copy took it.
        case applied
        /// The copy already had it, or is ahead with this node's own changes not yet written (their write will
        /// conflict, and the copy will be taken again from the store).
        case alreadyAhead
        /// Events before it were missed (`expected` is the number the copy waited for): the copy must catch up.
        case gap(expected: Int64)
    }

    /// An event another node of a cluster accepted, number `sequence` in its topic's order (`TopicFanOut`): it was
    /// checked there, so it is not refused here, and this node's subscribers get it. This node's copy of the context
    /// takes it only in order; a copy that missed events is left for the edge to catch up from the store. The store,
    /// not this copy, is the record a cluster answers from.
    public mutating func replicate(_ n: EventNotification, sequence: Int64, now: Date) -> (effects: [HubEffect], follow: Follow) {
        let topic = n.event.topic
        var ctx = topics[topic] ?? TopicContext(now: now)
        let follow: Follow
        if sequence <= ctx.sequence {
            follow = .alreadyAhead
        } else if sequence > ctx.sequence + 1 {
            follow = .gap(expected: ctx.sequence + 1)
        } else {
            var incoming = n
            if let prior = n.event.priorVersionId { incoming.event.versionId = prior }
            let version = n.event.versionId
            let makeID = self.makeID
            // Checked by the node that accepted it; a copy that cannot take it is out of step, like a gap.
            if (try? ctx.apply(incoming, now: now, config: config, newVersion: { version ?? makeID() })) != nil {
                ctx.sequence = sequence
                if !knows(topic: topic) { knownTopicsGeneration &+= 1 }
                topics[topic] = ctx
                follow = .applied
            } else {
                follow = .gap(expected: ctx.sequence + 1)
            }
        }
        return (deliverEffects(n, now: now), follow)
    }

    /// Takes the store's copy of a topic's context (a cluster node catching up, or after a conflicting write), if it
    /// is newer than this one. Not recorded as a change: it is what the store holds.
    public mutating func adopt(_ topic: String, _ stored: TopicContext?, now: Date) {
        let hadTopic = knows(topic: topic)
        if var ctx = stored {
            guard ctx.sequence >= (topics[topic]?.sequence ?? 0) || topics[topic] == nil else { return }
            ctx.lastActivity = now
            topics[topic] = ctx
        } else {
            topics.removeValue(forKey: topic)
        }
        if hadTopic != knows(topic: topic) { knownTopicsGeneration &+= 1 }
    }

    /// The delivery of an accepted event, plus the implied opens for subscribers that do not take it (C29).
    mutating func deliverEffects(_ n: EventNotification, now: Date) -> [HubEffect] {
        let key = n.event.key
        let shown = ImpliedOpens.shown(by: n.event)
        let implied = ImpliedOpens.of(n.event)
        let closed: (type: String, anchorID: String)? =
            EventName.split(n.event.name)?.action == .close
            ? TopicContext.anchor(of: n.event).map { ($0.resourceType.lowercased(), $0.anchorID) } : nil
        var targets: [SubscriptionID] = []
        var impliedTargets: [[SubscriptionID]] = Array(repeating: [], count: implied.count)
        for id in byTopic[n.event.topic] ?? [] {
            guard let slot = subscriptions.index(forKey: id) else { continue }
            // Changed in place: a copy would be written back, and its anchors copied, on every delivery.
            let outcome: (wanted: Bool, ack: Bool)? = Self.update(&subscriptions.values[slot]) { sub in
                guard sub.state == .active else { return nil }
                if let closed, sub.shownAnchors[closed.type] == closed.anchorID {
                    sub.shownAnchors.removeValue(forKey: closed.type)
                }
                if sub.wants(key) {
                    guard key != "syncerror" else { return (true, false) }
                    sub.lastEvent = (n.id, n.event.name)
                    if !shown.isEmpty { sub.shownAnchors.merge(shown) { _, new in new } }
                    return (true, sub.isWebSocket)
                }
                for (i, open) in implied.enumerated() {
                    let type = open.resourceType.lowercased()
                    guard sub.wants("\(type)-open"), sub.shownAnchors[type] != open.anchorID else { continue }
                    impliedTargets[i].append(id)
                    sub.shownAnchors[type] = open.anchorID
                }
                return (false, false)
            }
            guard let outcome, outcome.wanted else { continue }
            targets.append(id)
            if outcome.ack { trackAck(id, n, now: now) }
        }
        var effects: [HubEffect] = [.deliver(n, to: targets)]
        for (i, open) in implied.enumerated() where !impliedTargets[i].isEmpty {
            let derived = EventNotification(
                timestamp: n.timestamp, id: makeID(),
                event: Event(topic: n.event.topic, name: open.eventName, context: open.context))
            for id in impliedTargets[i] {
                subscriptions[id]?.lastEvent = (derived.id, derived.event.name)
                if subscriptions[id]?.isWebSocket == true { trackAck(id, derived, now: now) }
            }
            effects.append(.deliver(derived, to: impliedTargets[i]))
        }
        return effects
    }

    /// Runs `body` on a value where it is stored (a dictionary slot), without copying it out and back.
    static func update<T, R>(_ value: inout T, _ body: (inout T) -> R) -> R { body(&value) }

    /// A hub-generated SyncError about `sub`, to the topic's other syncerror subscribers (C34, C35).
    mutating func syncErrorEffects(
        about sub: Subscription, cause: SyncErrorCause, failedEvent: (id: String, name: String)?, diagnostics: String, now: Date
    ) -> [HubEffect] {
        syncErrorsMade[cause, default: 0] += 1
        let n = SyncErrorFactory.make(
            topic: sub.topic, failedEventID: failedEvent?.id ?? "none", failedEventName: failedEvent?.name ?? "none",
            subscriberName: sub.displayName, diagnostics: diagnostics, id: makeID(), now: now)
        let targets = (byTopic[sub.topic] ?? []).filter { id in
            guard id != sub.id, let s = subscriptions[id] else { return false }
            return s.state == .active && s.wants("syncerror")
        }
        var effects: [HubEffect] = targets.isEmpty ? [] : [.deliver(n, to: Array(targets))]
        if sharesSyncErrors { effects.append(.shareSyncError(n)) }
        return effects
    }

    /// Events a webhook taken over from a stopped node may have missed, in order: those it takes, to it alone.
    public mutating func replay(_ events: [EventNotification], to id: SubscriptionID, now: Date) -> [HubEffect] {
        var effects: [HubEffect] = []
        for n in events {
            guard let sub = subscriptions[id], sub.state == .active, sub.wants(n.event.key) else { continue }
            subscriptions[id]?.lastEvent = (n.id, n.event.name)
            effects.append(.deliver(n, to: [id]))
        }
        return effects
    }

    /// A SyncError another node of a cluster made about one of its subscribers: to this node's `syncerror`
    /// subscribers of the topic (C34, C35).
    public func relaySyncError(_ n: EventNotification) -> [HubEffect] {
        let targets = (byTopic[n.event.topic] ?? []).filter { id in
            guard let s = subscriptions[id] else { return false }
            return s.state == .active && s.wants("syncerror")
        }
        return targets.isEmpty ? [] : [.deliver(n, to: Array(targets))]
    }

    /// A SyncError for a request the hub accepted and later rejected: to the requester alone (C35).
    public mutating func rejectAccepted(
        _ notification: EventNotification, requester: SubscriptionID, diagnostics: String, now: Date
    ) -> [HubEffect] {
        guard let sub = subscriptions[requester], sub.state == .active else { return [] }
        syncErrorsMade[.notPassedOn, default: 0] += 1
        let n = SyncErrorFactory.make(
            topic: notification.event.topic, failedEventID: notification.id, failedEventName: notification.event.name,
            subscriberName: sub.displayName, diagnostics: diagnostics, id: makeID(), now: now)
        return [.deliver(n, to: [requester])]
    }

    /// A SyncError for a request the hub accepted and later could not pass on (the Cast bridge): to the
    /// topic's subscribers named like the publisher, or, when no subscription carries that name (or the publisher
    /// sent none), to every subscriber of the topic that takes SyncError, so that the session learns of it.
    public mutating func rejectAccepted(
        _ notification: EventNotification, publisherName: String?, diagnostics: String, now: Date
    ) -> [HubEffect] {
        let onTopic = (byTopic[notification.event.topic] ?? []).compactMap { subscriptions[$0] }.filter { $0.state == .active }
        var targets: [Subscription] = []
        if let name = publisherName?.lowercased(), !name.isEmpty {
            targets = onTopic.filter { $0.subscriberName?.lowercased() == name }
        }
        if targets.isEmpty { targets = onTopic.filter { $0.wants("syncerror") } }
        syncErrorsMade[.notPassedOn, default: 0] += 1
        guard !targets.isEmpty else { return [] }
        let n = SyncErrorFactory.make(
            topic: notification.event.topic, failedEventID: notification.id, failedEventName: notification.event.name,
            subscriberName: publisherName.flatMap { $0.isEmpty ? nil : $0 } ?? "castbridge", diagnostics: diagnostics,
            id: makeID(), now: now)
        return [.deliver(n, to: targets.map(\.id))]
    }
}
