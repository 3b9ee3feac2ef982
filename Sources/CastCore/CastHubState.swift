import FHIRcastCore
import Foundation
import OrderedCollections

/// The embedded Cast hub as a value: subscriptions, which are bound, the fan-out decision for every envelope,
/// and the requests waiting for answers. Generation D semantics (cast-protocol.md §1–§3, §7). No I/O.
public struct CastHubState: Sendable {
    public var matching: CastEventMatching
    /// By endpoint id, in subscription order (the reference's "first subscription" rules depend on order).
    public internal(set) var subscriptions: OrderedDictionary<String, CastSubscription> = [:]
    public private(set) var pending: [String: PendingCastRequest] = [:]
    public internal(set) var conferences: [CastConference] = []
    var lastContexts: OrderedDictionary<String, JSONValue> = [:]
    var pendingGets: [String: PendingGet] = [:]

    public var subscriptionCount: Int { subscriptions.count }
    /// The subscriptions in subscription order.
    public var allSubscriptions: [CastSubscription] { Array(subscriptions.values) }

    /// Caps that keep memory bounded whatever clients do: subscriptions in all, per topic, per owner.
    public var maxSubscriptions = 100_000
    public var maxSubscriptionsPerTopic = 1_000
    public var maxSubscriptionsPerOwner = 100

    public init(matching: CastEventMatching = .exact) {
        self.matching = matching
    }

    /// Whether a new subscription fits under the caps: 429 with the reason when it does not (503 when the hub is full).
    public func checkCaps(_ sub: CastSubscription) throws(CastError) {
        guard subscriptions[sub.endpoint] == nil else { return }
        if subscriptions.count >= maxSubscriptions {
            throw CastError(503, "the hub holds its maximum of \(maxSubscriptions) subscriptions; try again later")
        }
        var onTopic = 0, ofOwner = 0
        for other in subscriptions.values {
            if other.topic == sub.topic { onTopic += 1 }
            if let owner = sub.owner, other.owner == owner { ofOwner += 1 }
        }
        if onTopic >= maxSubscriptionsPerTopic {
            throw CastError(429, "topic '\(sub.topic)' holds its maximum of \(maxSubscriptionsPerTopic) subscriptions; unsubscribe one first")
        }
        if let owner = sub.owner, ofOwner >= maxSubscriptionsPerOwner {
            throw CastError(429, "'\(owner)' holds its maximum of \(maxSubscriptionsPerOwner) subscriptions; unsubscribe one first")
        }
    }

    /// One envelope to deliver to some bound sockets and WebSub subscribers.
    public struct Delivery: Sendable {
        public var envelope: JSONValue
        public var endpoints: [String]
        public var webSub: [CastSubscription] = []
    }

    // MARK: Subscriptions

    public mutating func subscribe(_ fields: CastFields, endpoint: String) throws(CastError) -> CastSubscription {
        let sub = try CastSubscription.parse(fields, endpoint: endpoint)
        add(sub)
        return sub
    }

    /// Stores a parsed (and, for WebSub, verified) subscription.
    public mutating func add(_ sub: CastSubscription) {
        subscriptions[sub.endpoint] = sub
    }



    /// Unsubscribes by endpoint URL (what follows `/bind/`), or by callback and topic. Returns the removed ones.
    public mutating func unsubscribe(endpoint: String?, callback: String?, topic: String?) -> [CastSubscription] {
        var removed: [CastSubscription] = []
        if let endpoint, !endpoint.isEmpty {
            let id = Self.bindID(endpoint)
            if let sub = subscriptions.removeValue(forKey: id) { removed.append(sub) }
        } else if let callback, let topic {
            for (id, sub) in subscriptions where sub.callback == callback && sub.topic == topic {
                subscriptions.removeValue(forKey: id)
                removed.append(sub)
            }
        }
        return removed
    }

    /// Removes every subscription (DELETE with an empty body).
    public mutating func clear() -> [CastSubscription] {
        let all = Array(subscriptions.values)
        subscriptions.removeAll()
        return all
    }

    /// Admin reset: subscriptions, conferences and pending requests all dropped.
    public mutating func reset() {
        subscriptions.removeAll()
        conferences.removeAll()
        pending.removeAll()
        pendingGets.removeAll()
        lastContexts.removeAll()
    }

    /// What follows `/bind/` in an endpoint URL (the reference keeps only that).
    public static func bindID(_ endpoint: String) -> String {
        if let range = endpoint.range(of: "/bind/", options: .backwards) {
            return String(endpoint[range.upperBound...].prefix { $0 != "?" && $0 != "#" && $0 != "/" })
        }
        return endpoint
    }

    /// A socket bound to `/bind/{endpoint}`. Any id is accepted, as by the reference; only a subscription's id
    /// ever receives events.
    public mutating func bind(_ endpoint: String) -> CastSubscription? {
        subscriptions[endpoint]?.bound = true
        return subscriptions[endpoint]
    }

    /// A socket closed or failed: its subscription is removed (no lease, no resume).
    public mutating func unbind(_ endpoint: String) -> CastSubscription? {
        subscriptions.removeValue(forKey: endpoint)
    }

    // MARK: Publish

    /// The envelope as fanned out: the publisher's object as-is, minus `subscriber.product.version`, plus `host`.
    public static func forwarded(_ envelope: [String: JSONValue], host: String?) -> [String: JSONValue] {
        var e = envelope
        e.removeValue(forKey: "subscriber.product.version")
        if let host { e["host"] = .string(host) }
        return e
    }

    /// The subscriptions an envelope is for: topic, event name, echo suppression and target filters (§2.2, §7).
    func addressees(of envelope: [String: JSONValue]) -> [CastSubscription] {
        let event = envelope["event"]?.objectValue ?? [:]
        let topic = event["hub.topic"]?.stringValue ?? ""
        let name = (event["hub.event"]?.stringValue ?? "").lowercased()
        let routing = CastRouting(envelope: envelope)
        return subscriptions.values.filter { sub in
            sub.matchesTopic(topic) && matching.matches(loweredEvent: name, in: sub.eventNames) && routing.admits(sub)
        }
    }

    /// Bound websocket subscriptions that get an envelope.
    public func targets(of envelope: [String: JSONValue]) -> [String] {
        routed(envelope).endpoints
    }

    /// One pass over the addressees: the bound sockets and the WebSub subscribers of an envelope.
    func routed(_ envelope: [String: JSONValue], fromThisNode: Bool = true) -> Delivery {
        // Another node's envelope skips the node-local subscriptions (a second pass only then).
        let addressees = fromThisNode ? addressees(of: envelope) : addressees(of: envelope).filter { !$0.nodeLocal }
        return Delivery(
            envelope: .object(envelope),
            endpoints: addressees.filter { $0.bound && $0.isWebSocket }.map(\.endpoint),
            webSub: fromThisNode ? addressees.filter { !$0.isWebSocket && $0.callback != nil } : [])
    }

    /// Validates and routes a publish. Throws the reference's 400s. `pathTopic` (generation B's
    /// `POST /api/hub/{topic}`) fills an empty `event.hub.topic`.
    public mutating func publish(_ body: JSONValue, host: String?, pathTopic: String? = nil) throws(CastError) -> Delivery {
        route(try accept(body, host: host, pathTopic: pathTopic), fromThisNode: true)
    }

    /// Validates a publish and returns the envelope as it is fanned out. Throws the reference's 400s.
    public func accept(_ body: JSONValue, host: String?, pathTopic: String? = nil) throws(CastError) -> [String: JSONValue] {
        guard case .object(var root) = body else { throw CastError(400, "Invalid JSON body") }
        if let pathTopic, !pathTopic.isEmpty, case .object(var ev)? = root["event"],
            (ev["hub.topic"]?.stringValue ?? "").isEmpty
        {
            ev["hub.topic"] = .string(pathTopic)
            root["event"] = .object(ev)
        }
        let event = root["event"]?.objectValue
        guard let topic = event?["hub.topic"]?.stringValue, !topic.isEmpty else {
            throw CastError(400, "Missing event.hub.topic for publish request")
        }
        guard let name = event?["hub.event"]?.stringValue, !name.isEmpty else {
            throw CastError(400, "Missing event.hub.event for publish request")
        }
        if Self.isBinaryEvent(name) {
            if Self.hasInlineData(event?["context"]) {
                throw CastError(400, "Inline base64 data is not accepted for \(name); upload the files as multipart/related")
            }
            try CastFilenamePolicy.validateFiles(of: root)
        }
        return Self.forwarded(root, host: host)
    }

    /// Routes an accepted envelope: remembered as its topic's last context, then its addressees and the conference
    /// pass. Another node's envelope reaches no node-local subscription (each node bridges what it took itself), and
    /// no WebSub subscriber (the node that took it posts to them).
    public mutating func route(_ forwarded: [String: JSONValue], fromThisNode: Bool) -> Delivery {
        remember(forwarded)
        var delivery = routed(forwarded, fromThisNode: fromThisNode)
        delivery.endpoints += conferenceEndpoints(for: forwarded, excluding: delivery.endpoints)
        return delivery
    }

    /// `subscription-removed` for a peer that left, routed like any publish (echo suppression by its name).
    public func removalNotice(_ sub: CastSubscription, reason: String, id: String, timestamp: String) -> Delivery {
        var envelope: [String: JSONValue] = [
            "timestamp": .string(timestamp),
            "id": .string(id),
            "subscriber.name": .string(sub.name),
            "event": [
                "hub.topic": .string(sub.topic),
                "hub.event": "subscription-removed",
                "context": ["reason": .string(reason), "subscriber": .string(sub.name)],
            ],
        ]
        if let product = sub.productName { envelope["subscriber.product.name"] = .string(product) }
        if sub.actors.count == 1 {
            envelope["subscriber.actor"] = .string(sub.actors[0])
        } else if sub.actors.count > 1 {
            envelope["subscriber.actor"] = .array(sub.actors.map(JSONValue.string))
        }
        return routed(envelope)
    }

    /// Binary-family events: dicom, nifti, jpg, png, nrrd, alone or as `<prefix>-…` / `<prefix>_…` (§4.1).
    public static func isBinaryEvent(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return ["dicom", "nifti", "jpg", "png", "nrrd"].contains { prefix in
            lowered == prefix || lowered.hasPrefix(prefix + "-") || lowered.hasPrefix(prefix + "_")
        }
    }

    static func hasInlineData(_ context: JSONValue?) -> Bool {
        if let files = context?["files"]?.arrayValue, files.contains(where: { $0["data"] != nil }) { return true }
        if let items = context?.arrayValue, items.contains(where: { $0["resource"]?["data"] != nil }) { return true }
        return false
    }

    // MARK: Requests

    /// One request frame for one target socket.
    public struct RequestFrame: Sendable {
        public var endpoint: String
        public var frame: JSONValue
    }

    /// Starts a request: picks the targets and builds one fan-out frame per bound target socket. With no target,
    /// nothing is pending and the caller answers at once.
    public mutating func startRequest(_ request: CastRequest, id: String, timestamp: String) -> (PendingCastRequest, [RequestFrame]) {
        let requesterSub = subscriptions.values.first { $0.name.caseInsensitiveCompare(request.requester) == .orderedSame }
        let candidates = subscriptions.values.filter { sub in
            guard sub.name.caseInsensitiveCompare(request.requester) != .orderedSame else { return false }
            if let topic = request.topic, !sub.matchesTopic(topic) { return false }
            guard matching.matches(loweredEvent: request.eventName.lowercased(), in: sub.eventNames) else { return false }
            if let actor = request.targetActor, !sub.actors.contains(actor) { return false }
            if let product = request.targetProduct, sub.routingProductName != product { return false }
            return true
        }
        let bound = candidates.filter { $0.bound && $0.isWebSocket }
        var expected: [String] = []
        var seen = Set<String>()
        for sub in bound where seen.insert(sub.name.lowercased()).inserted { expected.append(sub.name) }
        var pendingRequest = PendingCastRequest(
            request: request, expected: expected, exists: requesterSub != nil, connected: requesterSub?.bound ?? false,
            requesterTopic: requesterSub?.topic, targetExists: !candidates.isEmpty, targetConnected: !bound.isEmpty)
        pendingRequest.answered = []
        guard !bound.isEmpty else { return (pendingRequest, []) }
        pending[request.id] = pendingRequest

        var context = request.context
        context["id"] = .string(request.id)
        context["dataType"] = .string(request.dataType)
        // One frame per target socket; the topic is the request's, or the target's own.
        return (pendingRequest, bound.map { sub in
            var envelope: [String: JSONValue] = [
                "timestamp": .string(timestamp),
                "id": .string(id),
                "subscriber.name": .string(request.requester),
                "event": [
                    "hub.topic": .string(request.topic ?? sub.topic),
                    "hub.event": .string(request.eventName),
                    "context": .object(context),
                ],
            ]
            if let product = request.requesterProduct ?? requesterSub?.productName {
                envelope["subscriber.product.name"] = .string(product)
            }
            if let actor = request.requesterActor { envelope["subscriber.actor"] = actor }
            if let target = request.targetActor { envelope["target.actor"] = .string(target) }
            return RequestFrame(endpoint: sub.endpoint, frame: .object(envelope))
        })
    }

    /// A frame from a bound socket. Returns the request id when it was a `*-response` to a pending request.
    /// Responses are never fanned out (§3.1).
    public mutating func received(_ frame: JSONValue, from endpoint: String) -> String? {
        guard case .object(let root) = frame, let event = root["event"]?.objectValue,
            let name = event["hub.event"]?.stringValue, name.hasSuffix("-response"),
            let context = event["context"]?.objectValue, let id = context["id"]?.stringValue,
            var request = pending[id]
        else { return nil }
        let envelopeID = root["id"]?.stringValue
        if let envelopeID, !request.seenEnvelopes.insert(envelopeID).inserted { return nil }
        let responder =
            root["subscriber.name"]?.stringValue ?? event["sender"]?["subscriber"]?.stringValue
            ?? subscriptions[endpoint]?.name ?? "unknown"
        request.responses.append(
            CastResponse(
                envelopeID: envelopeID, subscriber: responder, actor: root["actor"],
                productName: root["subscriber.product.name"]?.stringValue, data: context["data"] ?? .null))
        request.answered.insert(responder.lowercased())
        pending[id] = request
        return id
    }

    /// Ends a request and returns its collated body.
    public mutating func finishRequest(_ id: String, timedOut: Bool) -> JSONValue? {
        pending.removeValue(forKey: id)?.collated(timedOut: timedOut)
    }

    public func isComplete(_ id: String) -> Bool { pending[id]?.isComplete ?? true }
}
