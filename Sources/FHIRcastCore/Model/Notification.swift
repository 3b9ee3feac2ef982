/// A FHIRcast event notification: `{timestamp, id, event}` (C25), the same envelope for requests (C36).
public struct EventNotification: Sendable, Hashable, Codable {
    /// UTC timestamp with `Z`.
    public var timestamp: String
    public var id: String
    public var event: Event

    public init(timestamp: String, id: String, event: Event) {
        self.timestamp = timestamp
        self.id = id
        self.event = event
    }
}

/// The `event` object of a notification.
public struct Event: Sendable, Hashable, Codable {
    public var topic: String
    /// The event name as the hub emits it: canonical STU3 casing for catalog events, as sent otherwise.
    public var name: String
    public var context: [JSONValue]
    public var versionId: String?
    public var priorVersionId: String?

    public init(topic: String, name: String, context: [JSONValue], versionId: String? = nil, priorVersionId: String? = nil) {
        self.topic = topic
        self.name = name
        self.context = context
        self.versionId = versionId
        self.priorVersionId = priorVersionId
    }

    /// The lower-cased name used for matching (C12).
    public var key: String { name.lowercased() }

    /// The first context entry with this key.
    public func entry(_ key: String) -> [String: JSONValue]? {
        for item in context {
            if let obj = item.objectValue, obj["key"]?.stringValue == key { return obj }
        }
        return nil
    }

    /// All context entries with this key.
    public func entries(_ key: String) -> [[String: JSONValue]] {
        context.compactMap { item in
            guard let obj = item.objectValue, obj["key"]?.stringValue == key else { return nil }
            return obj
        }
    }
}

/// Which edition of FHIRcast a client speaks; the hub state is shared, the wire shapes differ.
public enum Flavor: String, Sendable, Hashable, CaseIterable, Codable {
    case stu3 = "STU3"
    case stu2 = "STU2"

    /// The event name as this edition writes it on the wire: STU2 lower-case, STU3 canonical.
    public func wireName(_ name: String) -> String {
        switch self {
        case .stu3: EventCatalog.canonical(name)
        case .stu2: name.lowercased()
        }
    }
}

extension EventNotification {
    /// The JSON form of the notification as this edition writes it.
    public func json(flavor: Flavor) -> JSONValue {
        var event: [String: JSONValue] = [
            "hub.topic": .string(self.event.topic),
            "hub.event": .string(flavor.wireName(self.event.name)),
            "context": .array(self.event.context),
        ]
        if let v = self.event.versionId { event["context.versionId"] = .string(v) }
        if let p = self.event.priorVersionId { event["context.priorVersionId"] = .string(p) }
        return .object(["timestamp": .string(timestamp), "id": .string(id), "event": .object(event)])
    }
}
