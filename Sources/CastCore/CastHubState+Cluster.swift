import FHIRcastCore
import OrderedCollections

/// The embedded Cast hub's state across the nodes of a cluster, and across a restart: what a node does with what
/// another node tells it (`CastClusterMessage`). Each node holds a copy of every shared subscription and conference;
/// the sockets stay where they are.
extension CastHubState {
    /// What a heard message asks of this node's sockets.
    public struct Replicated: Sendable {
        /// Subscriptions removed here: their sockets, if this node holds any, are closed (no notice: the node that
        /// removed them sent it).
        public var removed: [String] = []
        /// Every socket of this node is closed (a clear or a reset on another node).
        public var closeAll = false
        /// Envelopes for this node's sockets and, when it took them, its WebSub subscribers.
        public var deliveries: [Delivery] = []
    }

    /// Takes back what a store kept: subscriptions (unbound until their socket binds here, or another node says it
    /// bound) and conferences.
    public mutating func restore(_ records: CastRecords) {
        for sub in records.subscriptions where subscriptions[sub.endpoint] == nil { subscriptions[sub.endpoint] = sub }
        for conference in records.conferences where !conferences.contains(where: { $0.hostTopic == conference.hostTopic }) {
            conferences.append(conference)
        }
    }

    /// Applies what a node told. The sender's own state changes were made when it took the request, so only
    /// deliveries are made for its own notes.
    public mutating func apply(_ note: CastClusterNote) -> Replicated {
        var result = Replicated()
        // The sender made its own state changes when it took the request; only what is delivered when heard is left.
        if note.fromThisNode && !note.message.isDeliveredWhenHeard { return result }
        switch note.message {
        case .published(let envelope):
            if let object = envelope.objectValue { result.deliveries.append(route(object, fromThisNode: note.fromThisNode)) }
        case .removalNotice(let envelope):
            if let object = envelope.objectValue { result.deliveries.append(routed(object, fromThisNode: note.fromThisNode)) }
        case .subscribed(var sub):
            // A socket may have bound here before the notice came.
            sub.bound = sub.bound || (subscriptions[sub.endpoint]?.bound ?? false)
            subscriptions[sub.endpoint] = sub
        case .bound(let endpoint):
            subscriptions[endpoint]?.bound = true
        case .removed(let endpoints):
            for endpoint in endpoints where subscriptions.removeValue(forKey: endpoint) != nil { result.removed.append(endpoint) }
        case .cleared:
            result.removed = clear().map(\.endpoint)
            result.closeAll = true
        case .reset:
            reset()
            result.closeAll = true
        case .conferenceCreated(let conference, let id, let timestamp):
            conferences.removeAll { $0.hostTopic == conference.hostTopic }
            result.deliveries.append(createConference(conference, id: id, timestamp: timestamp).1)
        case .conferenceEnded(let body, let id, let timestamp):
            if let delivery = try? endConference(body, id: id, timestamp: timestamp).1 { result.deliveries.append(delivery) }
        case .frame, .response:
            break  // for the hub's sockets and waits, not its state
        }
        return result
    }

    /// Whether a `*-response` (or `get-response`) frame answers a request this node waits for: when it does not, a
    /// node of a cluster passes it on to the others.
    public func awaitsResponse(_ frame: JSONValue) -> Bool {
        let context = frame["event"]?["context"]
        if let id = context?["id"]?.stringValue, pending[id] != nil { return true }
        if let id = context?["requestId"]?.stringValue, pendingGets[id] != nil { return true }
        return false
    }

    /// Whether a frame is an answer to some request (`*-response`), which the hub never fans out.
    public static func isResponse(_ frame: JSONValue) -> Bool {
        frame["event"]?["hub.event"]?.stringValue?.hasSuffix("-response") ?? false
    }
}

extension CastHubState {
    /// Whether a subscription with this endpoint id is held (on any node).
    public func has(_ endpoint: String) -> Bool { subscriptions[endpoint] != nil }

    /// The subscription with this endpoint id, if held.
    public func subscription(_ endpoint: String) -> CastSubscription? { subscriptions[endpoint] }
}
