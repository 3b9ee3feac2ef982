/// Validates a context-change request body (C36, C37, C39; catalog required keys) into an `EventNotification`.
public enum NotificationParser {
    /// - Parameters:
    ///   - body: the decoded JSON body.
    ///   - pathTopic: the topic from `hub.url/{topic}`, when the request used that form (C37).
    public static func parse(_ body: JSONValue, pathTopic: String? = nil) throws(HubError) -> EventNotification {
        guard case .object(let root) = body else {
            throw .badRequest("request body must be a JSON object with timestamp, id and event, got \(body.typeName)")
        }
        guard let tsValue = root["timestamp"] else { throw .badRequest("missing 'timestamp'") }
        guard let tsText = tsValue.stringValue else {
            throw .badRequest("'timestamp' must be a string, got \(tsValue.typeName)")
        }
        guard let timestamp = Timestamp.normalize(tsText) else {
            throw .badRequest("'timestamp' is not an ISO 8601 date-time: '\(tsText)'")
        }
        guard let idValue = root["id"] else { throw .badRequest("missing 'id'") }
        guard let id = idValue.stringValue else { throw .badRequest("'id' must be a string, got \(idValue.typeName)") }
        if id.isEmpty { throw .badRequest("'id' is empty") }
        if id.count > 256 { throw .badRequest("'id' is longer than 256 characters") }

        guard let eventValue = root["event"] else { throw .badRequest("missing 'event'") }
        guard case .object(let ev) = eventValue else {
            throw .badRequest("'event' must be an object, got \(eventValue.typeName)")
        }
        guard let topicValue = ev["hub.topic"] else { throw .badRequest("missing 'event.hub.topic'") }
        guard let topic = topicValue.stringValue, !topic.isEmpty else {
            throw .badRequest("'event.hub.topic' must be a non-empty string")
        }
        if let pathTopic, pathTopic != topic {
            throw .badRequest("topic in the path '\(pathTopic)' differs from event.hub.topic '\(topic)'")
        }
        guard let nameValue = ev["hub.event"] else { throw .badRequest("missing 'event.hub.event'") }
        guard let rawName = nameValue.stringValue else {
            throw .badRequest("'event.hub.event' must be a string, got \(nameValue.typeName)")
        }
        if let problem = EventCatalog.problem(withName: rawName) { throw .badRequest(problem) }
        let name = EventCatalog.canonical(rawName)
        let catalogEntry = EventCatalog.byKey[name.lowercased()]

        var context: [JSONValue] = []
        switch ev["context"] {
        case nil, .null?:
            if let entry = catalogEntry, !entry.requiredKeys.isEmpty {
                throw .badRequest("missing 'event.context' (\(name) requires \(entry.requiredKeys.joined(separator: ", ")))")
            }
        case .array(let items)?:
            for (i, item) in items.enumerated() {
                guard case .object(let obj) = item else {
                    throw .badRequest("event.context[\(i)] must be an object, got \(item.typeName)")
                }
                guard let key = obj["key"]?.stringValue, !key.isEmpty else {
                    throw .badRequest("event.context[\(i)] has no string 'key'")
                }
            }
            context = items
        case let other?:
            throw .badRequest("'event.context' must be an array, got \(other.typeName)")
        }

        var event = Event(topic: topic, name: name, context: context)
        if let entry = catalogEntry {
            for key in entry.requiredKeys where event.entry(key) == nil {
                throw .badRequest("\(name) requires context key '\(key)'")
            }
        }
        // The spec's table says versionId, its examples context.versionId: accept both (§2.3).
        if let v = ev["context.versionId"] ?? ev["versionId"] {
            guard let s = v.stringValue else { throw .badRequest("'context.versionId' must be a string, got \(v.typeName)") }
            event.versionId = s
        }
        if let action = EventName.split(name)?.action, action == .update, event.versionId == nil {
            throw .badRequest("\(name) requires 'context.versionId' (the version the update applies to)")
        }
        return EventNotification(timestamp: timestamp, id: id, event: event)
    }
}
