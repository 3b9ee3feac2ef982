import DequeModule
import HeapModule
import Foundation

/// The FHIRcast hub of record as a value: topics, subscriptions, current context, versions and pending
/// ACKs. Every operation takes the current time and returns the effects the edges must carry out. No I/O.
public struct HubState: Sendable {
    public let config: HubConfiguration
    /// Makes event, version and subscription ids. Injected so that tests can be deterministic.
    let makeID: @Sendable () -> String

    public internal(set) var subscriptions: [SubscriptionID: Subscription] = [:]
    var byTopic: [String: Set<SubscriptionID>] = [:]
    /// Subscriptions held per owner (the per-owner cap).
    var byOwner: [String: Int] = [:]
    public internal(set) var topics: [String: TopicContext] = [:]

    struct PendingAck { var eventID: String; var eventName: String; var deadline: Date }
    /// One subscriber's events still waiting for their ACK, in the order they went out: the timeout is constant,
    /// so this is also deadline order, and ACKs usually come in this order too (the oldest is checked first).
    struct AckTrack {
        var pending: Deque<PendingAck> = []
        /// Whether `ackWatch` holds an entry for this subscriber (at most one: the heap grows with subscribers,
        /// not with deliveries).
        var watched = false
    }
    var pendingAcks: [SubscriptionID: AckTrack] = [:]
    /// A subscription to look at when `at` comes; the timer heaps are ordered by it.
    struct Due: Comparable {
        var at: Date
        var id: SubscriptionID
        static func < (a: Due, b: Due) -> Bool { a.at < b.at }
    }
    /// When each subscriber with pending ACKs must next be looked at: the deadline of its oldest pending ACK when
    /// the entry was made (an entry that comes due after that ACK arrived is moved on to the next one).
    var ackWatch: Heap<Due> = []
    /// Lease expiries; a renewal leaves its old entry behind, skipped when it comes due.
    var leases: Heap<Due> = []
    var connectQueue: Deque<(deadline: Date, id: SubscriptionID)> = []
    var lastTopicSweep: Date?

    /// Whether the hub records what a store must write (`takeChanges()`); off when nothing is kept, so that
    /// publishing costs nothing more.
    public var tracksChanges = false
    /// Whether WebSocket subscriptions are recorded too: a cluster's store tells every node which topics have
    /// subscribers, and which node holds each subscription.
    public var tracksSocketSubscriptions = false
    /// Whether the SyncErrors the hub makes about a subscriber also go to the other nodes of a cluster
    /// (`HubEffect.shareSyncError`), whose `syncerror` subscribers get them too (C34 across nodes).
    public var sharesSyncErrors = false
    /// Topics changed since the last `takeChanges`, each with its `sequence` before the first of those changes.
    var changedTopics: [String: Int64] = [:]
    var changedSubscriptions: Set<SubscriptionID> = []

    public init(config: HubConfiguration = .init(), makeID: @escaping @Sendable () -> String = { UUID().uuidString.lowercased() }) {
        self.config = config
        self.makeID = makeID
    }

    /// SyncErrors this hub made, by cause, since it started (`castbridge_sync_errors_total`).
    public internal(set) var syncErrorsMade: [SyncErrorCause: Int] = [:]
    public var pendingAckCount: Int { pendingAcks.values.reduce(0) { $0 + $1.pending.count } }

    // MARK: Subscribe / unsubscribe

    public struct SubscribeResult: Sendable {
        public var subscription: Subscription
        /// False when an existing subscription was updated (C17).
        public var created: Bool
        public var effects: [HubEffect]
    }

    /// Subscribes, or re-subscribes an existing endpoint/callback on the same topic, replacing its events (C17).
    public mutating func subscribe(
        _ request: SubscriptionRequest, flavor: Flavor, now: Date, newID: SubscriptionID = .random()
    ) throws(HubError) -> SubscribeResult {
        precondition(request.mode == .subscribe)
        // C5: names the hub does not take are left out of the granted events, which the confirmation shows.
        var request = request
        let refused = request.events.filter { config.events.problem(withName: $0) != nil }
        if !refused.isEmpty {
            request.events.removeAll { name in refused.contains(name) }
            if request.events.isEmpty {
                throw .badRequest(
                    "'hub.events' names only events this hub does not support (\(refused.joined(separator: ","))): eventsSupported in .well-known/fhircast-configuration lists those it does")
            }
        }
        let lease = config.grantedLease(requested: request.leaseSeconds)
        let expiresAt = now.addingTimeInterval(Double(lease))

        if let existingID = existing(for: request) {
            guard var sub = subscriptions[existingID] else { preconditionFailure() }
            guard sub.topic == request.topic else {
                throw .badRequest("hub.channel.endpoint belongs to another topic")
            }
            sub.events = request.events
            sub.eventKeys = Set(request.events.map { $0.lowercased() })
            sub.leaseSeconds = lease
            sub.expiresAt = expiresAt
            if request.subscriberName != nil { sub.subscriberName = request.subscriberName }
            var effects: [HubEffect] = []
            if case .webhook(let callback, _) = sub.channel, let secret = request.secret {
                sub.channel = .webhook(callback: callback, secret: secret)
                effects.append(.verify(sub))
            }
            subscriptions[existingID] = sub
            noteSubscription(sub)
            leases.insert(Due(at: expiresAt, id: existingID))
            compactLeasesIfNeeded()
            return SubscribeResult(subscription: sub, created: false, effects: effects)
        }

        if subscriptions.count >= config.maxSubscriptions {
            throw .unavailable("the hub holds its maximum of \(config.maxSubscriptions) subscriptions; try again later")
        }
        if topics[request.topic] == nil, byTopic[request.topic] == nil, byTopic.count >= config.maxTopics {
            throw .unavailable("the hub holds its maximum of \(config.maxTopics) topics; try again later")
        }
        guard subscriptions[newID] == nil else { throw .unavailable("subscription id collision; retry") }
        if (byTopic[request.topic]?.count ?? 0) >= config.maxSubscriptionsPerTopic {
            throw HubError(
                429, "topic '\(request.topic)' holds its maximum of \(config.maxSubscriptionsPerTopic) subscriptions; unsubscribe one first",
                retryAfter: 60)
        }
        if let owner = request.owner, byOwner[owner, default: 0] >= config.maxSubscriptionsPerOwner {
            throw HubError(
                429, "'\(owner)' holds its maximum of \(config.maxSubscriptionsPerOwner) subscriptions; unsubscribe one, or let one lapse, first",
                retryAfter: 60)
        }

        let channel: DeliveryChannel
        let state: Subscription.State
        switch request.channelType {
        case .websocket:
            channel = .websocket
            state = .awaitingConnection
            connectQueue.append((now.addingTimeInterval(config.connectTimeoutSeconds), newID))
        case .webhook:
            channel = .webhook(callback: request.callback ?? "", secret: request.secret ?? "")
            state = .awaitingVerification
        }
        let sub = Subscription(
            id: newID, topic: request.topic, flavor: flavor, channel: channel, events: request.events,
            eventKeys: Set(request.events.map { $0.lowercased() }), subscriberName: request.subscriberName,
            leaseSeconds: lease, expiresAt: expiresAt, state: state, owner: request.owner)
        subscriptions[newID] = sub
        if let owner = request.owner { byOwner[owner, default: 0] += 1 }
        noteSubscription(sub)
        if !knows(topic: request.topic) { knownTopicsGeneration &+= 1 }
        byTopic[request.topic, default: []].insert(newID)
        leases.insert(Due(at: expiresAt, id: newID))
        touch(request.topic, now: now)
        return SubscribeResult(subscription: sub, created: true, effects: request.channelType == .webhook ? [.verify(sub)] : [])
    }

    /// Unsubscribes (C22, C23). Websocket subscribers get a `denied` frame and their socket is closed.
    public mutating func unsubscribe(_ request: SubscriptionRequest) throws(HubError) -> (Subscription, [HubEffect]) {
        guard let id = existing(for: request), let sub = subscriptions[id] else {
            switch request.channelType {
            case .websocket: throw .badRequest("unknown hub.channel.endpoint: no such subscription on this hub")
            case .webhook: throw .badRequest("no webhook subscription for this hub.callback and hub.topic")
            }
        }
        guard sub.topic == request.topic else {
            throw .badRequest("hub.channel.endpoint does not belong to topic '\(request.topic)'")
        }
        remove(id)
        // Unsubscribes are not verified, and a webhook subscriber that asked to leave is not sent a denial.
        return (sub, sub.isWebSocket ? [.deny(sub, reason: "unsubscribed")] : [])
    }

    /// Another node of a cluster took an unsubscribe for a WebSocket subscription this node holds: it ends here, its
    /// socket denied and closed (C21), as if the unsubscribe had come here.
    public mutating func unsubscribedElsewhere(_ id: SubscriptionID) -> [HubEffect] {
        guard let sub = subscriptions[id], sub.isWebSocket else { return [] }
        remove(id)
        return [.deny(sub, reason: "unsubscribed")]
    }

    func existing(for request: SubscriptionRequest) -> SubscriptionID? {
        switch request.channelType {
        case .websocket:
            guard let endpoint = request.endpoint else { return nil }
            let id = SubscriptionID(Self.endpointID(endpoint))
            guard let sub = subscriptions[id], sub.isWebSocket else { return nil }
            return id
        case .webhook:
            guard let callback = request.callback else { return nil }
            return (byTopic[request.topic] ?? []).first { id in
                if case .webhook(let c, _)? = subscriptions[id]?.channel { return c == callback }
                return false
            }
        }
    }

    /// The id in an endpoint URL: its last path segment (`…/fhircast/ws/<id>`); a bare id is accepted too.
    public static func endpointID(_ endpoint: String) -> String {
        var s = Substring(endpoint)
        if let q = s.firstIndex(where: { $0 == "?" || $0 == "#" }) { s = s[..<q] }
        while s.hasSuffix("/") { s = s.dropLast() }
        if let slash = s.lastIndex(of: "/") { s = s[s.index(after: slash)...] }
        return String(s)
    }

    // MARK: Websocket connections

    public struct ConnectResult: Sendable {
        public var subscription: Subscription
        /// Current context to send right after the confirmation (C18).
        public var replay: [EventNotification]
    }

    /// A subscriber's socket connected to its endpoint (C15, C16, C18).
    public mutating func connect(_ id: SubscriptionID, now: Date) throws(HubError) -> ConnectResult {
        guard var sub = subscriptions[id], sub.isWebSocket else {
            throw .notFound("unknown or expired websocket endpoint")
        }
        guard sub.expiresAt > now else {
            remove(id)
            throw .notFound("unknown or expired websocket endpoint")
        }
        guard sub.state == .awaitingConnection else {
            throw .conflict("this endpoint already has an open connection; subscribe again for a new one")
        }
        sub.state = .active
        // The current context: the opens the subscriber takes, and for those it does not, the opens they imply (C29).
        var replay: [EventNotification] = []
        for n in topics[sub.topic]?.replay() ?? [] {
            if sub.wants(n.event.key) {
                replay.append(n)
                sub.shownAnchors.merge(ImpliedOpens.shown(by: n.event)) { _, new in new }
                continue
            }
            for open in ImpliedOpens.of(n.event) {
                let type = open.resourceType.lowercased()
                guard sub.wants("\(type)-open"), sub.shownAnchors[type] != open.anchorID else { continue }
                sub.shownAnchors[type] = open.anchorID
                replay.append(
                    EventNotification(
                        timestamp: n.timestamp, id: makeID(),
                        event: Event(topic: n.event.topic, name: open.eventName, context: open.context)))
            }
        }
        if let last = replay.last { sub.lastEvent = (last.id, last.event.name) }
        subscriptions[id] = sub
        noteSubscription(sub)
        for n in replay { trackAck(id, n, now: now) }
        return ConnectResult(subscription: sub, replay: replay)
    }

    /// A subscriber's socket closed. A close other than 1000/1001 (or none at all) produces a SyncError (C24, C33).
    public mutating func disconnected(_ id: SubscriptionID, closeCode: Int?, now: Date) -> [HubEffect] {
        guard let sub = subscriptions[id], sub.isWebSocket, sub.state == .active else { return [] }
        remove(id)
        if let code = closeCode, code == 1000 || code == 1001 { return [] }
        let how = closeCode.map { "with code \($0)" } ?? "without a close frame"
        return syncErrorEffects(
            about: sub, cause: .disconnected, failedEvent: sub.lastEvent,
            diagnostics: "\(sub.displayName) disconnected abnormally (\(how)) and is no longer subscribed", now: now)
    }

    // MARK: Webhook verification and delivery outcomes

    /// The outcome of a webhook intent verification (STU2 §1.10).
    public mutating func verified(_ id: SubscriptionID, success: Bool) {
        guard var sub = subscriptions[id], sub.state != .active || !success else { return }
        if success {
            sub.state = .active
            subscriptions[id] = sub
            noteSubscription(sub)
        } else if sub.state == .awaitingVerification {
            remove(id)
        }
    }

    /// A delivery was refused by the subscriber: an ACK or webhook response that is not 2xx (C31).
    public mutating func refused(_ id: SubscriptionID, eventID: String, eventName: String, status: Int, now: Date) -> [HubEffect] {
        guard let sub = subscriptions[id] else { return [] }
        let what = (400..<500).contains(status) ? "refused" : "could not process"
        return syncErrorEffects(
            about: sub, cause: .refused, failedEvent: (eventID, eventName),
            diagnostics: "\(sub.displayName) \(what) \(eventName) (status \(status))", now: now)
    }

    /// A subscriber stopped taking events (webhook retries exhausted, send buffer overflow): SyncError to the
    /// others, then the subscriber is denied and removed (C33).
    public mutating func unresponsive(
        _ id: SubscriptionID, eventID: String?, eventName: String?, reason: String, cause: SyncErrorCause = .unresponsive, now: Date
    ) -> [HubEffect] {
        guard let sub = subscriptions[id] else { return [] }
        let failed = eventID.map { ($0, eventName ?? "") } ?? sub.lastEvent
        var effects = syncErrorEffects(
            about: sub, cause: cause, failedEvent: failed, diagnostics: "\(sub.displayName) is unresponsive (\(reason)) and has been unsubscribed",
            now: now)
        remove(id)
        effects.append(.deny(sub, reason: reason))
        return effects
    }

    // MARK: Current context

    public func context(of topic: String) -> TopicContext? { topics[topic] }

    /// Whether the FHIRcast side knows a topic (C36, C43): it has a subscription, or a context the hub still keeps
    /// (opened, and not yet forgotten after `topicIdleSeconds` without subscribers). Docs/conformance.md, "Topics".
    public func knows(topic: String) -> Bool { byTopic[topic] != nil || topics[topic] != nil }

    /// Every topic the hub `knows`.
    public var knownTopics: Set<String> { Set(byTopic.keys).union(topics.keys) }

    /// Changes each time `knownTopics` gains or loses a topic: a reader compares it with the value it last saw instead
    /// of comparing sets.
    public internal(set) var knownTopicsGeneration = 0

    // MARK: Helpers

    mutating func remove(_ id: SubscriptionID) {
        guard let sub = subscriptions.removeValue(forKey: id) else { return }
        noteSubscription(sub)
        if let owner = sub.owner {
            byOwner[owner, default: 1] -= 1
            if byOwner[owner] == 0 { byOwner.removeValue(forKey: owner) }
        }
        byTopic[sub.topic]?.remove(id)
        if byTopic[sub.topic]?.isEmpty == true {
            byTopic.removeValue(forKey: sub.topic)
            if topics[sub.topic] == nil { knownTopicsGeneration &+= 1 }
        }
        // Its entry in the ACK watch is skipped when it comes due.
        pendingAcks.removeValue(forKey: id)
    }

    /// Re-subscribes leave their old lease entries behind until those come due; rebuild the heap when stale
    /// entries outnumber live ones, so that a client renewing in a loop cannot grow it without bound.
    mutating func compactLeasesIfNeeded() {
        guard leases.count > 2 * subscriptions.count + 1024 else { return }
        leases = Heap(subscriptions.values.map { Due(at: $0.expiresAt, id: $0.id) })
    }

    /// Lease entries held (live and stale); for tests of the bound above.
    var leaseEntryCount: Int { leases.count }

    mutating func touch(_ topic: String, now: Date) {
        topics[topic]?.lastActivity = now
    }
}
