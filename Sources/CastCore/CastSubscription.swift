import FHIRcastCore
import Foundation

/// How the hub matches event names against `hub.events` (cast-protocol.md §2.2).
public enum CastEventMatching: String, Sendable, CaseIterable {
    /// The names in `hub.events` as a comma-separated set, case-insensitive, or `*`. castbridge's default.
    case exact
    /// The reference hub's rule: the lower-cased event name is a substring of the lower-cased `hub.events`
    /// string. It admits wrong events (`open` matches `Patient-open`); offered for strict wire compatibility.
    case substring

    public func matches(event: String, subscribed raw: String) -> Bool {
        matches(loweredEvent: event.lowercased(), in: EventNameSet(raw))
    }

    /// The same rule against a subscription's parsed `hub.events`; `loweredEvent` is lower-cased once per event.
    public func matches(loweredEvent name: String, in set: EventNameSet) -> Bool {
        if set.wildcard { return true }
        switch self {
        case .substring: return set.lowered.contains(name)
        case .exact: return set.names.contains(name)
        }
    }
}

/// `hub.events` parsed once per subscription rather than once per event and subscriber.
public struct EventNameSet: Sendable, Hashable {
    /// The whole string, lower-cased (for the reference's substring rule).
    public let lowered: String
    /// The comma-separated names, lower-cased and trimmed.
    public let names: Set<String>
    public let wildcard: Bool

    public init(_ raw: String) {
        lowered = raw.lowercased()
        wildcard = lowered.contains("*")
        names = Set(lowered.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }
}

/// A Cast subscription (cast-protocol.md §1.1).
public struct CastSubscription: Sendable, Hashable {
    /// The random id after `/bind/`.
    public let endpoint: String
    public var topic: String
    /// `hub.events` exactly as given (the reference keeps the raw string).
    public var events: String {
        didSet { eventNames = EventNameSet(events) }
    }
    /// `events`, parsed for matching.
    public private(set) var eventNames = EventNameSet("")
    public var channelType: String
    public var callback: String?
    public var secret: String?
    public var leaseSeconds: Int
    public var name: String {
        didSet { nameKey = name.lowercased() }
    }
    /// `name` lower-cased, for the case-insensitive name rules (echo suppression, `target.subscriber.name`).
    public private(set) var nameKey = ""
    public var actors: [String]
    public var productName: String?
    public var productVersion: String?
    public var clientInfo: [String: JSONValue]
    public var bound = false
    /// Who made it (the token's subject), for the per-owner cap.
    public var owner: String?
    /// A subscription of this node's own (the bridge's, on the embedded hub): never shared with other nodes of a
    /// cluster, and given only the events accepted on this node, so that each event is bridged by one node.
    public var nodeLocal = false

    /// The reference treats every channel type other than `websocket` (and a missing one) as WebSub.
    public var isWebSocket: Bool { channelType == "websocket" || channelType.lowercased() == "websocket" }

    /// The subscriber's product name, or `client_info.productName` (the reference prefers the explicit one).
    public var routingProductName: String? { productName ?? clientInfo["productName"]?.stringValue }

    /// The most events one subscription may name (its confirmation and every match read them all).
    public static let maxEvents = 256

    /// Parses a subscribe request. Throws the reference hub's 400s.
    public static func parse(_ fields: CastFields, endpoint: String) throws(CastError) -> CastSubscription {
        guard let topic = fields.string("hub.topic"), !topic.isEmpty else { throw CastError(400, "Missing hub.topic") }
        guard let events = fields.string("hub.events"), !events.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw CastError(400, "Missing hub.events")
        }
        let named = events.split(separator: ",").count
        guard named <= maxEvents else {
            throw CastError(400, "hub.events names \(named) events; a subscription may name at most \(maxEvents) ('*' takes them all)")
        }
        var lease = 7200
        if let text = fields.string("hub.lease_seconds") ?? fields.string("hub.lease") {
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw CastError(400, "hub.lease_seconds must be an integer, got '\(text)'")
            }
            lease = value
        }
        let name = fields.string("subscriber.name").flatMap { $0.isEmpty ? nil : $0 } ?? "unknown"
        var subscription = CastSubscription(
            endpoint: endpoint, topic: topic, events: events,
            channelType: fields.string("hub.channel.type") ?? "websub",
            callback: fields.string("hub.callback"), secret: fields.string("hub.secret"), leaseSeconds: lease, name: name,
            actors: parseActors(fields.values["subscriber.actors"]),
            productName: fields.string("subscriber.product.name"),
            productVersion: fields.string("subscriber.product.version"),
            clientInfo: parseClientInfo(fields.values["subscriber.client_info"]))
        subscription.eventNames = EventNameSet(events)
        subscription.nameKey = name.lowercased()
        return subscription
    }

    /// `subscriber.actors`: a JSON array (or a JSON-array string such as `["ID"]`), or a bare string.
    static func parseActors(_ value: JSONValue?) -> [String] {
        switch value {
        case .array(let items)?:
            return items.compactMap(\.stringValue).filter { !$0.isEmpty }
        case .string(let s)?:
            let trimmed = s.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("["), let decoded = try? JSONValue.parse(Data(trimmed.utf8)) {
                return parseActors(decoded)
            }
            return trimmed.isEmpty ? [] : [trimmed]
        default:
            return []
        }
    }

    static let clientInfoKeys: Set<String> = ["productName", "version", "userAgent", "platform", "language", "timezone"]

    /// `subscriber.client_info`: a JSON object (or its string); only the known keys are kept.
    static func parseClientInfo(_ value: JSONValue?) -> [String: JSONValue] {
        var object: [String: JSONValue]?
        switch value {
        case .object(let o)?: object = o
        case .string(let s)?: object = (try? JSONValue.parse(Data(s.utf8)))?.objectValue
        default: object = nil
        }
        return (object ?? [:]).filter { clientInfoKeys.contains($0.key) }
    }
}

/// Who an envelope is from and whom it is for (cast-protocol.md §2.1, §7).
public struct CastRouting: Sendable, Hashable {
    public let publisher: String?
    public let targetActor: String?
    public let targetProduct: String?
    public let targetSubscriber: String?
    /// `publisher` and `targetSubscriber` lower-cased once, for the case-insensitive name rules.
    private let publisherKey: String?
    private let targetSubscriberKey: String?

    public init(envelope: [String: JSONValue]) {
        publisher = (envelope["subscriber.name"] ?? envelope["subscriber"] ?? envelope["publisher"])?.stringValue
        func filter(_ key: String) -> String? {
            guard let v = envelope[key]?.stringValue, !v.isEmpty, v != "*" else { return nil }
            return v
        }
        targetActor = filter("target.actor")
        targetProduct = filter("target.product.name")
        targetSubscriber = filter("target.subscriber.name")
        publisherKey = publisher?.lowercased()
        targetSubscriberKey = targetSubscriber?.lowercased()
    }

    /// Whether a subscription passes echo suppression and the target filters.
    public func admits(_ sub: CastSubscription) -> Bool {
        if let publisherKey, sub.nameKey == publisherKey { return false }
        if let targetActor, !sub.actors.contains(targetActor) { return false }
        if let targetProduct, sub.routingProductName != targetProduct { return false }
        if let targetSubscriberKey, sub.nameKey != targetSubscriberKey { return false }
        return true
    }
}

extension CastSubscription {
    /// Topic rule: equal, or the subscription is `*` and the event has a topic.
    public func matchesTopic(_ topic: String) -> Bool {
        self.topic == topic || (self.topic == "*" && !topic.isEmpty)
    }
}

/// What a store keeps of a subscription, and what one node tells the others: every field as given; the parsed forms
/// (`eventNames`, `nameKey`) are made again on decoding. `bound` is the cluster's (a socket on some node).
extension CastSubscription: Codable {
    enum CodingKeys: String, CodingKey {
        case endpoint, topic, events, channelType, callback, secret, leaseSeconds, name, actors, productName, productVersion, clientInfo,
            bound, owner, nodeLocal
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            endpoint: try c.decode(String.self, forKey: .endpoint), topic: try c.decode(String.self, forKey: .topic),
            events: try c.decode(String.self, forKey: .events), channelType: try c.decode(String.self, forKey: .channelType),
            callback: try c.decodeIfPresent(String.self, forKey: .callback), secret: try c.decodeIfPresent(String.self, forKey: .secret),
            leaseSeconds: try c.decode(Int.self, forKey: .leaseSeconds), name: try c.decode(String.self, forKey: .name),
            actors: try c.decode([String].self, forKey: .actors), productName: try c.decodeIfPresent(String.self, forKey: .productName),
            productVersion: try c.decodeIfPresent(String.self, forKey: .productVersion),
            clientInfo: try c.decode([String: JSONValue].self, forKey: .clientInfo))
        eventNames = EventNameSet(events)
        nameKey = name.lowercased()
        bound = try c.decodeIfPresent(Bool.self, forKey: .bound) ?? false
        owner = try c.decodeIfPresent(String.self, forKey: .owner)
        nodeLocal = try c.decodeIfPresent(Bool.self, forKey: .nodeLocal) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(endpoint, forKey: .endpoint)
        try c.encode(topic, forKey: .topic)
        try c.encode(events, forKey: .events)
        try c.encode(channelType, forKey: .channelType)
        try c.encodeIfPresent(callback, forKey: .callback)
        try c.encodeIfPresent(secret, forKey: .secret)
        try c.encode(leaseSeconds, forKey: .leaseSeconds)
        try c.encode(name, forKey: .name)
        try c.encode(actors, forKey: .actors)
        try c.encodeIfPresent(productName, forKey: .productName)
        try c.encodeIfPresent(productVersion, forKey: .productVersion)
        try c.encode(clientInfo, forKey: .clientInfo)
        try c.encode(bound, forKey: .bound)
        try c.encodeIfPresent(owner, forKey: .owner)
        if nodeLocal { try c.encode(true, forKey: .nodeLocal) }
    }
}
