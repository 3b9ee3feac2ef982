import OrderedCollections
import FHIRcastCore

/// What the admin console shows of the embedded Cast hub: subscriptions, conferences and the requests waiting for
/// answers. Unlike the reference's admin page: no endpoint (the capability to bind), no `hub.secret`, no callback path or
/// query; a subscription is named by a reference the edge derives (`ref`).
extension CastHubState {
    /// Subscriptions by channel (`websocket`, `websub`), and topics, right now.
    public var census: (websocket: Int, websub: Int, topics: Int) {
        var websocket = 0
        var topics = Set<String>()
        for sub in subscriptions.values {
            if sub.isWebSocket { websocket += 1 }
            topics.insert(sub.topic)
        }
        return (websocket, subscriptions.count - websocket, topics.count)
    }

    /// - Parameters:
    ///   - ref: the console's name for a subscription's endpoint (it must not reveal the endpoint).
    ///   - connected: whether an endpoint has a socket on this node.
    ///   - queued: frames handed to an endpoint's socket and not yet taken, when it has one here.
    public func consoleView(ref: (String) -> String, connected: (String) -> Bool, queued: (String) -> Int?) -> JSONValue {
        let subs = subscriptions.values.sorted { ($0.topic, $0.name) < ($1.topic, $1.name) }.map { sub -> JSONValue in
            var o: [String: JSONValue] = [
                "ref": .string(ref(sub.endpoint)),
                "topic": .string(sub.topic),
                "name": .string(sub.name),
                "actors": .array(sub.actors.map(JSONValue.string)),
                "channel": .string(sub.isWebSocket ? "websocket" : "websub"),
                "events": .string(sub.events),
                "leaseSeconds": .int(Int64(sub.leaseSeconds)),
            ]
            if let product = sub.routingProductName { o["product"] = .string(product) }
            if sub.isWebSocket { o["connected"] = .bool(connected(sub.endpoint)) }
            if let queued = queued(sub.endpoint) { o["backlog"] = .int(Int64(queued)) }
            if let callback = sub.callback, let host = ConsoleMask.host(of: callback) { o["callbackHost"] = .string(host) }
            return .object(o)
        }
        let requests = pending.values.sorted { $0.request.id < $1.request.id }.map { p -> JSONValue in
            [
                "id": .string(p.request.id),
                "requester": .string(p.request.requester),
                "dataType": .string(p.request.dataType),
                "topic": p.request.topic.map(JSONValue.string) ?? .null,
                "expected": .array(p.expected.map(JSONValue.string)),
                "missing": .array(p.missing.map(JSONValue.string)),
            ]
        }
        return ["subscriptions": .array(subs), "conferences": conferenceList(), "pendingRequests": .array(requests)]
    }

    /// The endpoint the console names `ref`.
    public func endpoint(ref: String, by refOf: (String) -> String) -> String? {
        subscriptions.keys.first { refOf($0) == ref }
    }

    /// The endpoints of a topic's subscriptions (the console's "clear topic").
    public func endpoints(onTopic topic: String) -> [String] {
        subscriptions.values.filter { $0.topic == topic }.map(\.endpoint)
    }
}
