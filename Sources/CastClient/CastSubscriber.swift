import FHIRcastCore

/// Who a Cast app is and what it listens to: the subscribe form (cast-protocol.md §1.1).
///
/// ```swift
/// let me = CastSubscriber(topic: "USER-1", events: ["imagingstudy-open", "status-request"], name: "viewer-1",
///                         actors: ["ID"], productName: "my-viewer")
/// let session = CastHubSession(client: client, subscriber: me)
/// ```
public struct CastSubscriber: Sendable, Hashable {
    /// The user's topic, or `*` for every topic (service providers).
    public var topic: String
    /// Cast event names, lower case, or `["*"]`.
    public var events: [String]
    /// The subscriber name: requests are addressed by it, and the hub does not send an app its own publishes.
    public var name: String
    /// Roles, such as `ID` (image display) or `WORKLIST_CLIENT`.
    public var actors: [String]
    public var productName: String?
    public var productVersion: String?

    public init(topic: String, events: [String], name: String, actors: [String] = [], productName: String? = nil, productVersion: String? = nil) {
        self.topic = topic
        self.events = events.map { $0.lowercased() }
        self.name = name
        self.actors = actors
        self.productName = productName
        self.productVersion = productVersion
    }

    /// The form `POST /api/hub` takes.
    public var fields: [String: String] {
        var fields = [
            "hub.mode": "subscribe",
            "hub.topic": topic,
            "hub.events": events.joined(separator: ","),
            "hub.channel.type": "websocket",
            "subscriber.name": name,
        ]
        if !actors.isEmpty { fields["subscriber.actors"] = String(decoding: JSONValue.array(actors.map(JSONValue.string)).jsonBytes, as: UTF8.self) }
        if let productName { fields["subscriber.product.name"] = productName }
        if let productVersion { fields["subscriber.product.version"] = productVersion }
        return fields
    }
}
