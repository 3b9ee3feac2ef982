import CastCore
import FHIRcastCore

/// Who the bridge is on the Cast side. Every publish and answer carries this stable name, so the Cast hub's
/// echo suppression keeps the bridge's own publishes from coming back, and never hides one FHIRcast app's event
/// from another (they all reach each other through the FHIRcast hub, not through Cast).
public struct BridgeIdentity: Sendable, Hashable {
    public var subscriberName: String
    public var productName: String
    public var productVersion: String?
    /// The roles the bridge subscribes with (`subscriber.actors`).
    public var actors: [String]

    public init(subscriberName: String = "castbridge", productName: String = "castbridge", productVersion: String? = nil,
        actors: [String] = ["WORKLIST_CLIENT"])
    {
        self.subscriberName = subscriberName
        self.productName = productName
        self.productVersion = productVersion
        self.actors = actors
    }
}

/// Which Cast hub generation the bridge talks to (cast-protocol.md §0).
public enum CastDialect: String, Sendable, Hashable, CaseIterable {
    /// Generation D (and C): `/api/hub`, `/api/hub/request`, `*-request`/`*-response`, mock OAuth code flow.
    case d
    /// Generation B (PW44): `/api/hub/{topic}`, `get-request`/`get-response` and `cast-get`, `client_credentials`.
    case b
}

/// What an inbound Cast frame means for the FHIRcast side.
public enum InboundCast: Sendable, Equatable {
    /// An event to publish on the FHIRcast hub (a JSON notification, validated by the FHIRcast parser).
    case event(JSONValue)
    /// A request the bridge may answer.
    case request(IncomingCastRequest)
    /// Nothing to do, and why (for debug logs).
    case ignored(String)
}

/// A `*-request` (generation D) or `get-request` (generation B) fanned out to the bridge.
public struct IncomingCastRequest: Sendable, Hashable {
    /// The correlation id: `context.id`, or `context.requestId` for `get-request`.
    public var correlationID: String
    public var dataType: String
    public var topic: String
    /// Lower-cased request event name.
    public var eventName: String
    public var requester: String?
    public var isLegacy: Bool
    /// The request's context as sent (for forwarding).
    public var context: [String: JSONValue]
    /// The Cast fields of the request envelope (requester, product, actors).
    public var fields: [String: JSONValue]
}

/// FHIRcast ⇄ Cast translation, both directions. Pure: time and ids come in as arguments.
public struct Translator: Sendable {
    public var mappings: MappingSet
    public var identity: BridgeIdentity
    public var dialect: CastDialect

    public init(mappings: MappingSet, identity: BridgeIdentity, dialect: CastDialect = .d) {
        self.mappings = mappings
        self.identity = identity
        self.dialect = dialect
    }

    // MARK: FHIRcast → Cast

    /// The files a FHIRcast event carries to a Cast binary event (`dicom-send`, …): empty for any other event.
    /// Throws the 400/413 the publisher must get; then nothing is published anywhere.
    public func outgoingFiles(for n: EventNotification) throws(HubError) -> [OutgoingFile] {
        guard let castName = mappings.castName(forFHIRcast: n.event.name), CastHubState.isBinaryEvent(castName) else { return [] }
        return try Attachments.outgoing(from: CastExtension.extract(from: n.event.context).rest, policy: mappings.binary)
    }

    /// The Cast envelope of a binary event: its context is the `files[]` manifest (plus whatever else the
    /// extension's Cast context held).
    public func castEnvelope(for n: EventNotification, files: [OutgoingFile]) -> JSONValue? {
        let envelope = castEnvelope(for: n)
        guard !files.isEmpty, case .object(var root)? = envelope, case .object(var event)? = root["event"] else {
            return envelope
        }
        var context = CastExtension.extract(from: n.event.context).fields["context"]?.objectValue ?? [:]
        context["files"] = Attachments.manifest(files)["files"]
        event["context"] = .object(context)
        root["event"] = .object(event)
        return .object(root)
    }

    /// The Cast envelope for an event the FHIRcast hub accepted, or nil when it does not go to Cast.
    ///
    /// The id and timestamp are kept; `subscriber.*` is the bridge's own identity (echo suppression); the
    /// castbridge extension entry, if any, gives `subscriber.actor` and `target.*` and, for events that came
    /// from Cast with an object context, that object back.
    public func castEnvelope(for n: EventNotification) -> JSONValue? {
        guard n.event.key != "syncerror", let castName = mappings.castName(forFHIRcast: n.event.name) else { return nil }
        let (fields, rest) = CastExtension.extract(from: n.event.context)
        var event: [String: JSONValue] = [
            "hub.topic": .string(n.event.topic),
            "hub.event": .string(castName),
        ]
        if case .object(let object)? = fields["context"] {
            event["context"] = .object(object)
        } else {
            event["context"] = .array(rest)
        }
        if let v = n.event.versionId { event["context.versionId"] = .string(v) }
        if let p = n.event.priorVersionId { event["context.priorVersionId"] = .string(p) }
        if dialect == .b { event["hub.source"] = .string(identity.subscriberName) }  // gen B's publisher key
        var root: [String: JSONValue] = [
            "timestamp": .string(n.timestamp),
            "id": .string(n.id),
            "subscriber.name": .string(identity.subscriberName),
            "subscriber.product.name": .string(identity.productName),
            "event": .object(event),
        ]
        if let version = identity.productVersion { root["subscriber.product.version"] = .string(version) }
        for key in ["subscriber.actor", "target.actor", "target.product.name", "target.subscriber.name"] {
            if let value = fields[key], value != .null { root[key] = value }
        }
        return .object(root)
    }

    // MARK: Cast → FHIRcast

    /// Classifies one frame from the Cast hub and, for an event, builds its FHIRcast notification JSON.
    /// - Parameters:
    ///   - newID: used only when the Cast publisher sent no id.
    ///   - now: the timestamp used when the Cast publisher sent none (UTC, `Z`).
    public func inbound(_ frame: JSONValue, newID: () -> String, now: String) -> InboundCast {
        guard case .object(let root) = frame else { return .ignored("not a JSON object") }
        if root["type"] != nil { return .ignored("control frame") }
        if root["hub.mode"] != nil { return .ignored("subscription message") }
        guard case .object(let event)? = root["event"] else { return .ignored("no event") }
        guard let rawName = event["hub.event"]?.stringValue, !rawName.isEmpty else { return .ignored("no event name") }
        let name = rawName.lowercased()
        if name == "heartbeat" { return .ignored("heartbeat") }
        if isOwn(root, event: event) { return .ignored("the bridge's own publish") }
        guard let topic = event["hub.topic"]?.stringValue, !topic.isEmpty else { return .ignored("no hub.topic") }
        if name.hasSuffix("-response") { return .ignored("a response is not an event") }
        if name.hasSuffix("-request") { return request(root, event: event, name: name, topic: topic) }
        guard let fhircastName = mappings.fhircastName(forCast: name) else {
            return .ignored("no mapping for Cast event '\(rawName)'")
        }
        var fields = Self.castFields(of: root)
        var context: [JSONValue]
        switch event["context"] {
        case .array(let items)?:
            context = items
        case .object(let object)?:
            context = []
            fields["context"] = .object(object)
        default:
            context = []
        }
        if let entry = CastExtension.entry(fields) { context.append(entry) }
        let id = root["id"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? newID()
        let timestamp = root["timestamp"]?.stringValue.flatMap(Timestamp.normalize) ?? now
        var out: [String: JSONValue] = [
            "hub.topic": .string(topic),
            "hub.event": .string(fhircastName),
            "context": .array(context),
        ]
        if let v = event["context.versionId"] { out["context.versionId"] = v }
        return .event(["timestamp": .string(timestamp), "id": .string(id), "event": .object(out)])
    }

    private func isOwn(_ root: [String: JSONValue], event: [String: JSONValue]) -> Bool {
        let me = identity.subscriberName.lowercased()
        for candidate in [root["subscriber.name"], event["hub.source"]] {
            if let name = candidate?.stringValue, name.lowercased() == me { return true }
        }
        return false
    }

    /// The Cast root fields carried into the extension (never `host`).
    static func castFields(of root: [String: JSONValue]) -> [String: JSONValue] {
        var fields: [String: JSONValue] = [:]
        for key in CastExtension.fields {
            if let value = root[key], value != .null { fields[key] = value }
        }
        return fields
    }

    private func request(_ root: [String: JSONValue], event: [String: JSONValue], name: String, topic: String) -> InboundCast {
        let context = event["context"]?.objectValue ?? [:]
        let legacy = name == "get-request"
        let correlation = (legacy ? context["requestId"] : context["id"])?.stringValue
        guard let correlation, !correlation.isEmpty else { return .ignored("a request without a correlation id") }
        let dataType = context["dataType"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? CastRequest.dataType(forRequest: name)
        return .request(
            IncomingCastRequest(
                correlationID: correlation, dataType: dataType, topic: topic, eventName: name,
                requester: root["subscriber.name"]?.stringValue, isLegacy: legacy, context: context,
                fields: Self.castFields(of: root)))
    }
}
