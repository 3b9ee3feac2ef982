import FHIRcastCore
import Foundation

/// One Cast envelope (cast-protocol.md §2): what a hub sends a subscriber, what an app publishes, a request's fan-out
/// frame and its answer. The fields every role reads are typed; everything else stays in `extra`, so that a message
/// read and written again loses nothing.
public struct CastMessage: Sendable, Hashable {
    public var id: String
    public var timestamp: String
    /// `event.hub.topic`: the user's topic.
    public var topic: String
    /// `event.hub.event`, lower case (`dicom-send`, `imagingstudy-open`, `status-request`…).
    public var event: String
    /// `event.context`: a FHIRcast context list, or an object (binary events' `{files: […]}`, requests).
    public var context: JSONValue
    /// Who sent it (`subscriber.name`).
    public var subscriberName: String?
    public var productName: String?
    /// The sender's role (`actor`, or a request's `subscriber.actor`).
    public var actor: String?
    /// Routing: only this subscriber (`target.subscriber.name`), only this role (`target.actor`), only this product.
    public var targetSubscriber: String?
    public var targetActor: String?
    public var targetProduct: String?
    /// The root fields not modelled above, kept as they came.
    public var extra: [String: JSONValue]

    public init(
        topic: String, event: String, context: JSONValue, id: String = UUID().uuidString.lowercased(),
        timestamp: String = Timestamp.format(Date()), subscriberName: String? = nil, productName: String? = nil,
        actor: String? = nil, targetSubscriber: String? = nil, targetActor: String? = nil, targetProduct: String? = nil
    ) {
        self.id = id
        self.timestamp = timestamp
        self.topic = topic
        self.event = event.lowercased()
        self.context = context
        self.subscriberName = subscriberName
        self.productName = productName
        self.actor = actor
        self.targetSubscriber = targetSubscriber
        self.targetActor = targetActor
        self.targetProduct = targetProduct
        self.extra = [:]
    }

    private static let modelled: Set<String> = [
        "id", "timestamp", "event", "subscriber.name", "subscriber.product.name", "actor", "subscriber.actor",
        "target.subscriber.name", "target.actor", "target.product.name",
    ]

    /// Reads an envelope; nil when it is not one (no `event` object with `hub.event`, such as the hub's
    /// `connection.established` or ping frames).
    public init?(json: JSONValue) {
        guard case .object(let root) = json, case .object(let event)? = root["event"],
            let name = event["hub.event"]?.stringValue, !name.isEmpty
        else { return nil }
        self.init(
            topic: event["hub.topic"]?.stringValue ?? "", event: name, context: event["context"] ?? .null,
            id: root["id"]?.stringValue ?? "", timestamp: root["timestamp"]?.stringValue ?? "",
            subscriberName: root["subscriber.name"]?.stringValue, productName: root["subscriber.product.name"]?.stringValue,
            actor: root["actor"]?.stringValue ?? root["subscriber.actor"]?.stringValue,
            targetSubscriber: root["target.subscriber.name"]?.stringValue, targetActor: root["target.actor"]?.stringValue,
            targetProduct: root["target.product.name"]?.stringValue)
        extra = root.filter { !Self.modelled.contains($0.key) }
    }

    /// Reads one text frame from a hub.
    public init?(frame: String) {
        guard let json = try? JSONValue.parse(Data(frame.utf8)) else { return nil }
        self.init(json: json)
    }

    /// The envelope as JSON, for publishing or answering on a socket.
    public var json: JSONValue {
        var root = extra
        root["id"] = .string(id)
        root["timestamp"] = .string(timestamp)
        root["event"] = .object(["hub.topic": .string(topic), "hub.event": .string(event), "context": context])
        if let subscriberName { root["subscriber.name"] = .string(subscriberName) }
        if let productName { root["subscriber.product.name"] = .string(productName) }
        if let actor { root["actor"] = .string(actor) }
        if let targetSubscriber { root["target.subscriber.name"] = .string(targetSubscriber) }
        if let targetActor { root["target.actor"] = .string(targetActor) }
        if let targetProduct { root["target.product.name"] = .string(targetProduct) }
        return .object(root)
    }

    // MARK: Requests (cast-protocol.md §3.1)

    /// A request's fan-out frame: its event ends in `-request`.
    public var isRequest: Bool { event.hasSuffix("-request") }

    /// The correlation id a request carries in `context.id`, to be sent back in the response.
    public var requestID: String? {
        guard let id = context["id"]?.stringValue?.trimmingCharacters(in: .whitespaces), !id.isEmpty else { return nil }
        return id
    }

    /// The request's data type: `context.dataType`, or the event name without `-request`, upper-cased (`STATUS`).
    public var dataType: String {
        if let given = context["dataType"]?.stringValue, !given.isEmpty { return given }
        return String(event.dropLast(event.hasSuffix("-request") ? "-request".count : 0)).uppercased()
    }

    /// The answer to this request, as `from` sends it on its socket: `<datatype>-response` with the request's id.
    public func response(from name: String, actor: String? = nil, productName: String? = nil, data: JSONValue) -> CastMessage {
        CastMessage(
            topic: topic, event: "\(dataType.lowercased())-response",
            context: ["id": .string(requestID ?? ""), "dataType": .string(dataType), "data": data],
            subscriberName: name, productName: productName, actor: actor)
    }

    // MARK: Files (cast-protocol.md §4.1)

    /// A binary event's manifest, `context.files`, in order.
    public var files: [CastFileEntry] {
        (context["files"]?.arrayValue ?? []).compactMap(CastFileEntry.init(json:))
    }

    /// Whether a message addressed with `target.actor` and `target.product.name` is meant for an app with these
    /// actors and product (absent, empty or `*` is everyone; case does not matter).
    public func isAddressed(toActors actors: [String], product: String?) -> Bool {
        if let wanted = Self.filter(targetActor), !actors.contains(where: { $0.uppercased() == wanted }) { return false }
        if let wanted = Self.filter(targetProduct), product?.uppercased() != wanted { return false }
        return true
    }

    private static func filter(_ value: String?) -> String? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty, value != "*" else { return nil }
        return value.uppercased()
    }
}
