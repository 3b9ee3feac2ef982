import CastCore
import FHIRcastCore

/// The request verbs in both directions (cast-protocol.md §3): answering Cast requests from the FHIRcast world,
/// and running Cast requests for FHIRcast apps.
extension Translator {
    /// The rule for a request, or nil when the bridge does not answer it.
    public func rule(for request: IncomingCastRequest) -> RequestMapping? {
        let rule = request.isLegacy ? mappings.request(forDataType: request.dataType) : mappings.request(forCastEvent: request.eventName)
        guard let rule, rule.action != .ignore else { return nil }
        return rule
    }

    /// What a worklist client answers to STATUS: `{context.type, context}` of the topic's current context
    /// (the open event's entries, without the content bundle or castbridge's extension), or an empty type and list.
    public static func contextAnswer(_ ctx: TopicContext?) -> JSONValue {
        guard let current = ctx?.current else { return ["context.type": "", "context": []] }
        let entries = CastExtension.extract(from: current.open.event.context).rest
        return ["context.type": .string(current.resourceType), "context": .array(entries)]
    }

    /// The response frame the bridge sends on its Cast socket: `<datatype>-response` with `context.id`
    /// (generation D) or `get-response` with `context.requestId` (generation B). Lower-case event names: the
    /// reference hub's suffix test is case-sensitive.
    public func responseFrame(
        to request: IncomingCastRequest, responseEvent: String, data: JSONValue, actor: String, id: String, timestamp: String
    ) -> JSONValue {
        var context: [String: JSONValue] = ["dataType": .string(request.dataType), "data": data]
        context[request.isLegacy ? "requestId" : "id"] = .string(request.correlationID)
        var root: [String: JSONValue] = [
            "timestamp": .string(timestamp),
            "id": .string(id),
            "subscriber.name": .string(identity.subscriberName),
            "subscriber.product.name": .string(identity.productName),
            "actor": .string(actor),
            "event": .object([
                "hub.topic": .string(request.topic),
                "hub.event": .string(request.isLegacy ? "get-response" : responseEvent),
                "context": .object(context),
            ]),
        ]
        if let requester = request.requester { root["target.subscriber.name"] = .string(requester) }
        return .object(root)
    }

    /// A request forwarded to FHIRcast subscribers: the mapped event, its Cast request in the castbridge
    /// extension (`context` holds `id`, the correlation id to reply with, and `dataType`).
    public func forwardedEvent(_ request: IncomingCastRequest, as name: String, id: String, timestamp: String) -> JSONValue {
        var fields = request.fields
        var context = request.context
        context["id"] = .string(request.correlationID)
        context["dataType"] = .string(request.dataType)
        fields["context"] = .object(context)
        let entry = CastExtension.entry(fields) ?? ["key": "extension", "data": [:]]
        return [
            "timestamp": .string(timestamp),
            "id": .string(id),
            "event": ["hub.topic": .string(request.topic), "hub.event": .string(name), "context": [entry]],
        ]
    }

    /// The Cast request body (`POST /api/hub/request`) for `POST /fhircast/STU3/{topic}/request`.
    ///
    /// Body: `dataType` (required), optional `target.actor`, `target.product.name`, `target.subscriber.name`,
    /// `timeoutSeconds` (0–300) and `context` (an object merged into the request context).
    public func castRequest(topic: String, body: JSONValue, id: String, timestamp: String) throws(HubError) -> CastRequest {
        guard case .object(let o) = body else {
            throw .badRequest("the request body must be a JSON object with 'dataType', got \(body.typeName)")
        }
        let allowed: Set<String> = ["dataType", "target.actor", "target.product.name", "target.subscriber.name", "timeoutSeconds", "context"]
        if let unknown = o.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw .badRequest("unknown field '\(unknown)' (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
        guard let typeValue = o["dataType"] else { throw .badRequest("missing 'dataType' (for example \"STATUS\")") }
        guard let dataType = typeValue.stringValue, !dataType.isEmpty,
            dataType.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
        else {
            throw .badRequest("'dataType' must be a non-empty string of letters, digits, '_' and '-'")
        }
        var timeout = CastRequest.defaultTimeout
        switch o["timeoutSeconds"] {
        case nil, .null?: break
        case .int(let i)?: timeout = Double(i)
        case .double(let d)?: timeout = d
        case let other?: throw .badRequest("'timeoutSeconds' must be a number, got \(other.typeName)")
        }
        guard timeout > 0, timeout <= CastRequest.maxTimeout else {
            throw .badRequest("'timeoutSeconds' must be more than 0 and at most \(Int(CastRequest.maxTimeout))")
        }
        func optionalString(_ key: String) throws(HubError) -> String? {
            switch o[key] {
            case nil, .null?: return nil
            case .string(let s)?: return s.isEmpty || s == "*" ? nil : s
            case let other?: throw .badRequest("'\(key)' must be a string, got \(other.typeName)")
            }
        }
        let targetActor = try optionalString("target.actor")
        let targetProduct = try optionalString("target.product.name")
        let targetSubscriber = try optionalString("target.subscriber.name")
        var context: [String: JSONValue] = [:]
        switch o["context"] {
        case nil, .null?: break
        case .object(let c)?: context = c
        case let other?: throw .badRequest("'context' must be an object, got \(other.typeName)")
        }
        if dialect == .d, targetSubscriber != nil {
            throw .badRequest("'target.subscriber.name' needs a generation B hub (--cast-dialect b); generation D routes requests by 'target.actor' and 'target.product.name'")
        }
        if dialect == .b, targetSubscriber == nil {
            throw .badRequest("the upstream Cast hub speaks generation B, whose requests go to one named subscriber: set 'target.subscriber.name'")
        }
        let eventName = mappings.request(forDataType: dataType)?.castEvent ?? "\(dataType.lowercased())-request"
        context["dataType"] = .string(dataType)
        context["timeoutSeconds"] = timeout == timeout.rounded() ? .int(Int64(timeout)) : .double(timeout)
        var request = CastRequest(
            id: id, requester: identity.subscriberName, eventName: eventName, dataType: dataType, topic: topic,
            timeoutSeconds: timeout, requesterActor: identity.actors.first.map(JSONValue.string),
            requesterProduct: identity.productName, targetActor: targetActor, targetProduct: targetProduct,
            context: context, timestamp: timestamp)
        request.targetSubscriber = targetSubscriber
        return request
    }
}

extension CastRequest {
    /// The JSON body of `POST /api/hub/request` for this request (cast-protocol.md §3.1).
    public var body: JSONValue {
        var root: [String: JSONValue] = [
            "subscriber.name": .string(requester),
            "id": .string(id),
            "event": [
                "hub.event": .string(eventName),
                "hub.topic": topic.map(JSONValue.string) ?? .null,
                "context": .object(context),
            ],
        ]
        if let timestamp { root["timestamp"] = .string(timestamp) }
        if let requesterActor { root["subscriber.actor"] = requesterActor }
        if let requesterProduct { root["subscriber.product.name"] = .string(requesterProduct) }
        root["target.actor"] = .string(targetActor ?? "*")
        if let targetProduct { root["target.product.name"] = .string(targetProduct) }
        if let targetSubscriber { root["target.subscriber.name"] = .string(targetSubscriber) }
        return .object(root)
    }
}
