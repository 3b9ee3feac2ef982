import FHIRcastCore
import Foundation
import OrderedCollections

/// Generation-B behaviour kept for PW44-era peers (cast-protocol.md §1.5, §3.3, §6.2), where it does not conflict
/// with generation D.
extension CastHubState {
    /// Topics whose last context is remembered at most; beyond it the oldest entry goes.
    public static let maxLastContexts = 10_000

    /// `GET /api/hub/{topic}`: the last context published on the topic, or `{}`.
    public func lastContext(of topic: String) -> JSONValue {
        lastContexts[topic] ?? [:]
    }

    /// Every publish that carries a context replaces the topic's last context; an event whose name contains
    /// "close" resets it to `{}`.
    mutating func remember(_ envelope: [String: JSONValue]) {
        let event = envelope["event"]?.objectValue ?? [:]
        guard let topic = event["hub.topic"]?.stringValue, !topic.isEmpty else { return }
        let name = event["hub.event"]?.stringValue?.lowercased() ?? ""
        if lastContexts[topic] == nil, lastContexts.count >= Self.maxLastContexts, let first = lastContexts.keys.first {
            lastContexts.removeValue(forKey: first)
        }
        if name.containsBytes("close") {
            lastContexts[topic] = [:]
        } else if let context = event["context"], context != .null {
            lastContexts[topic] = context
        }
    }

    /// A `cast-get` in flight: one addressed subscriber, answered by a `get-response` with the same requestId.
    public struct PendingGet: Sendable {
        public var requestId: String
        public var subscriber: String
        public var dataType: String
        public var requestedTopic: String?
        public var actor: JSONValue?
        public var endpoint: String?
        public var topic: String?
        public var exists: Bool
        public var connected: Bool
        public var response: JSONValue?

        public func reply() -> JSONValue {
            var o: [String: JSONValue] = [
                "subscriber": .string(subscriber), "dataType": .string(dataType), "exists": .bool(exists),
                "connected": .bool(connected), "topic": topic.map(JSONValue.string) ?? .null,
                "endpoint": endpoint.map(JSONValue.string) ?? .null,
                "response": response ?? ["error": .string(connected ? "Timeout waiting for get-response" : "Subscriber is not connected")],
            ]
            if let requestedTopic { o["requestedTopic"] = .string(requestedTopic) }
            if let actor { o["actor"] = actor }
            return .object(o)
        }
    }

    /// Starts `GET /api/hub/cast-get`: finds the first subscription with that name (and topic) and builds the
    /// `get-request` frame when its socket is bound.
    public mutating func startGet(
        subscriber: String, dataType: String, topic: String?, actor: JSONValue?, requestId: String, id: String, timestamp: String
    ) -> (PendingGet, RequestFrame?) {
        let sub = subscriptions.values.first { s in
            s.name == subscriber && (topic == nil || s.topic == topic || s.topic == "*")
        }
        var get = PendingGet(
            requestId: requestId, subscriber: subscriber, dataType: dataType, requestedTopic: topic, actor: actor,
            endpoint: sub?.endpoint, topic: sub?.topic, exists: sub != nil, connected: sub?.bound ?? false)
        guard let sub, sub.bound else {
            get.response = nil
            return (get, nil)
        }
        var envelope: [String: JSONValue] = [
            "timestamp": .string(timestamp), "id": .string(id),
            "event": [
                "hub.topic": .string(topic ?? sub.topic), "hub.event": "get-request",
                "context": ["requestId": .string(requestId), "dataType": .string(dataType)],
            ],
        ]
        if let actor { envelope["actor"] = actor }
        pendingGets[requestId] = get
        return (get, RequestFrame(endpoint: sub.endpoint, frame: .object(envelope)))
    }

    /// A `get-response` frame; returns its requestId when it answered a pending get.
    public mutating func receivedGetResponse(_ frame: JSONValue) -> String? {
        guard frame["event"]?["hub.event"]?.stringValue == "get-response",
            let requestId = frame["event"]?["context"]?["requestId"]?.stringValue,
            pendingGets[requestId] != nil, pendingGets[requestId]?.response == nil
        else { return nil }
        pendingGets[requestId]?.response = frame
        return requestId
    }

    public func isAnswered(get requestId: String) -> Bool { pendingGets[requestId]?.response != nil }

    public mutating func finishGet(_ requestId: String) -> PendingGet? {
        pendingGets.removeValue(forKey: requestId)
    }
}

extension MockOAuthState {
    /// Generation-B `client_credentials`: a new `USER-<n>` (or the body topic, or SINGLE-USER) and a subscriber
    /// name made from the client's product name.
    public mutating func clientCredentials(bodyTopic: String?, productName: String?, suffix: String) -> (Identity, subscriberName: String) {
        let identity = newIdentity(bodyTopic: bodyTopic)
        let product = (productName ?? "client").filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
        return (identity, "\(product.isEmpty ? "client" : product)-\(suffix)")
    }
}
