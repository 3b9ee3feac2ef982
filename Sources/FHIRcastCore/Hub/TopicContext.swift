import OrderedCollections
import Foundation

/// The context state of one topic: opened-but-unclosed anchors, the current one, and shared content
/// (C38, C41–C51). Pure: the caller supplies ids and clocks.
public struct TopicContext: Sendable, Codable {
    /// An opened, not yet closed anchor such as `DiagnosticReport/123`.
    public struct OpenContext: Sendable, Codable {
        public var anchorID: String
        /// The resource type of the anchor, from the event name (`DiagnosticReport`).
        public var resourceType: String
        /// The most recent open event of this anchor, as received (original id and timestamp, C18).
        public var open: EventNotification
        public var versionId: String
        /// Shared content, keyed by `fullUrl` or `Type/id`, in insertion order (C42, C47).
        public var content: OrderedDictionary<String, JSONValue> = [:]
        /// The content keys in insertion order.
        public var contentKeys: [String] { Array(content.keys) }
    }

    /// Open contexts, least recently opened first.
    public private(set) var opens: OrderedDictionary<String, OpenContext> = [:]
    public private(set) var currentAnchorID: String?
    public var lastActivity: Date
    /// How many events this topic has taken since it began: each accepted event's number in the topic's order. The
    /// nodes of a cluster write a topic only over the number they read (`HubChanges.topicBasis`), and follow another
    /// node's events by it (`HubState.replicate`).
    public var sequence: Int64 = 0

    public init(now: Date) {
        self.lastActivity = now
    }

    public var current: OpenContext? { currentAnchorID.flatMap { opens[$0] } }

    /// The anchor a `<Type>-<action>` event refers to: its resource type and `Type/id`.
    /// Nil for events that are not resource-anchored or lack the anchor entry.
    public static func anchor(of event: Event) -> (resourceType: String, anchorID: String)? {
        guard let split = EventName.split(event.name) else { return nil }
        let type = split.resourceType
        guard let entry = event.entry(EventCatalog.anchorKey(forResourceType: type)) else { return nil }
        if case .object(let resource)? = entry["resource"] {
            let rt = resource["resourceType"]?.stringValue ?? type
            let id = resource["id"]?.stringValue ?? ""
            return (type, "\(rt)/\(id)")
        }
        if let ref = entry["reference"] {
            if let s = ref.stringValue { return (type, s) }
            if let s = ref["reference"]?.stringValue { return (type, s) }
        }
        return (type, "\(type)/")
    }

    /// Applies an accepted event and returns the event to broadcast (with versionIds where due).
    /// Throws when the event is refused; the state is then unchanged (C46, C47).
    public mutating func apply(
        _ notification: EventNotification, now: Date, config: HubConfiguration, newVersion: () -> String
    ) throws(HubError) -> EventNotification {
        var out = notification
        lastActivity = now
        guard let split = EventName.split(notification.event.name),
            let anchor = Self.anchor(of: notification.event)
        else {
            return out
        }
        switch split.action {
        case .open:
            if var existing = opens.removeValue(forKey: anchor.anchorID) {
                // A repeated open of an unclosed anchor makes it current again, content kept (IRA).
                existing.open = notification
                existing.open.event.versionId = nil
                opens[anchor.anchorID] = existing
                out.event.versionId = existing.versionId
            } else {
                var stored = notification
                stored.event.versionId = nil
                stored.event.priorVersionId = nil
                let ctx = OpenContext(
                    anchorID: anchor.anchorID, resourceType: anchor.resourceType, open: stored, versionId: newVersion())
                opens[anchor.anchorID] = ctx
                out.event.versionId = ctx.versionId
                trim(config.maxOpenContextsPerTopic, keeping: anchor.anchorID)
            }
            out.event.priorVersionId = nil
            currentAnchorID = anchor.anchorID
        case .close:
            opens.removeValue(forKey: anchor.anchorID)  // content discarded (C49)
            if currentAnchorID == anchor.anchorID { currentAnchorID = nil }
            out.event.versionId = nil
            out.event.priorVersionId = nil
        case .update:
            guard var ctx = opens[anchor.anchorID] else {
                throw .badRequest("\(notification.event.name) refers to \(anchor.anchorID), which is not open on this topic")
            }
            if currentAnchorID != anchor.anchorID && !config.supportsNonCurrentContextUpdates {
                throw .badRequest("\(anchor.anchorID) is not the current context; updates to non-current contexts are not supported")
            }
            guard let given = notification.event.versionId else {
                throw .badRequest("\(notification.event.name) requires 'context.versionId'")
            }
            guard given == ctx.versionId else {
                throw .badRequest("stale context.versionId '\(given)' for \(anchor.anchorID): the current version is '\(ctx.versionId)'")
            }
            try Self.applyUpdates(notification.event, to: &ctx)
            let prior = ctx.versionId
            ctx.versionId = newVersion()
            opens[anchor.anchorID] = ctx
            out.event.versionId = ctx.versionId
            out.event.priorVersionId = prior
        case .select:
            if let ctx = opens[anchor.anchorID] {
                guard currentAnchorID == anchor.anchorID else {
                    throw .badRequest("select is only allowed on the current context; \(anchor.anchorID) is not current")
                }
                out.event.versionId = ctx.versionId
            } else {
                throw .badRequest("\(notification.event.name) refers to \(anchor.anchorID), which is not open on this topic")
            }
            out.event.priorVersionId = nil
        }
        return out
    }

    /// Forgets the oldest non-current open contexts beyond the cap.
    private mutating func trim(_ cap: Int, keeping: String) {
        while opens.count > max(cap, 1) {
            guard let victim = opens.keys.first(where: { $0 != keeping && $0 != currentAnchorID }) else { return }
            opens.removeValue(forKey: victim)
        }
    }

    /// Validates the `updates` transaction bundle (C48) and applies its PUT/DELETE entries all-or-nothing.
    static func applyUpdates(_ event: Event, to ctx: inout OpenContext) throws(HubError) {
        guard let updates = event.entry("updates") else { throw .badRequest("\(event.name) requires context key 'updates'") }
        guard case .object(let bundle)? = updates["resource"] else {
            throw .badRequest("context 'updates' must hold a Bundle resource")
        }
        guard bundle["resourceType"]?.stringValue == "Bundle" else {
            throw .badRequest("context 'updates' must hold a Bundle, got resourceType '\(bundle["resourceType"]?.stringValue ?? "none")'")
        }
        guard bundle["type"]?.stringValue == "transaction" else {
            throw .badRequest("the 'updates' Bundle must have type 'transaction', got '\(bundle["type"]?.stringValue ?? "none")'")
        }
        let protected = Set(ctx.open.event.context.compactMap { item -> String? in
            guard case .object(let r)? = item["resource"], let rt = r["resourceType"]?.stringValue,
                let id = r["id"]?.stringValue
            else { return nil }
            return "\(rt)/\(id)"
        })
        var content = ctx.content
        var seen = Set<String>()
        let entries: [JSONValue]
        switch bundle["entry"] {
        case nil, .null?: entries = []
        case .array(let a)?: entries = a
        case let other?: throw .badRequest("'updates' Bundle.entry must be an array, got \(other.typeName)")
        }
        for (i, entry) in entries.enumerated() {
            guard case .object(let e) = entry else { throw .badRequest("updates entry[\(i)] must be an object") }
            guard let method = e["request"]?["method"]?.stringValue?.uppercased() else {
                throw .badRequest("updates entry[\(i)] has no request.method (PUT or DELETE)")
            }
            switch method {
            case "PUT":
                guard case .object(let resource)? = e["resource"], let rt = resource["resourceType"]?.stringValue else {
                    throw .badRequest("updates entry[\(i)] is a PUT without a resource")
                }
                let key = resource["id"]?.stringValue.map { "\(rt)/\($0)" } ?? e["fullUrl"]?.stringValue
                    ?? e["request"]?["url"]?.stringValue ?? "\(rt)/entry\(i)"
                guard seen.insert(key).inserted else { throw .badRequest("\(key) appears more than once in the 'updates' Bundle") }
                content[key] = .object(resource)
            case "DELETE":
                guard let key = deleteKey(e) else {
                    throw .badRequest("updates entry[\(i)] is a DELETE without fullUrl or request.url")
                }
                guard seen.insert(key).inserted else { throw .badRequest("\(key) appears more than once in the 'updates' Bundle") }
                if protected.contains(key) {
                    throw .badRequest("updates entry[\(i)] deletes \(key), which is part of the opened context")
                }
                content.removeValue(forKey: key)
            case "POST":
                throw .badRequest("updates entry[\(i)] uses POST; content updates allow only PUT and DELETE")
            default:
                throw .badRequest("updates entry[\(i)] uses request.method '\(method)'; only PUT and DELETE are allowed")
            }
        }
        ctx.content = content
    }

    /// The content key a DELETE entry names: the `Type/id` tail of its URL.
    private static func deleteKey(_ e: [String: JSONValue]) -> String? {
        guard let url = e["request"]?["url"]?.stringValue ?? e["fullUrl"]?.stringValue else { return nil }
        let parts = url.split(separator: "/")
        guard parts.count >= 2 else { return url }
        return parts.suffix(2).joined(separator: "/")
    }

    /// Most recent open per anchor type, in open order — the replay for a new subscriber (C18), or empty when
    /// there is no current context (C38).
    public func replay() -> [EventNotification] {
        guard currentAnchorID != nil else { return [] }
        var latestByType: [String: String] = [:]
        for (id, ctx) in opens { latestByType[ctx.resourceType.lowercased()] = id }
        let keep = Set(latestByType.values)
        return opens.values.filter { keep.contains($0.anchorID) }.map { ctx in
            var n = ctx.open
            n.event.versionId = ctx.versionId
            return n
        }
    }
}
