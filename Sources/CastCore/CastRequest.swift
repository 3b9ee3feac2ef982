import FHIRcastCore
import Foundation

/// A typed request to live applications: `POST /api/hub/request` (cast-protocol.md §3.1).
public struct CastRequest: Sendable, Hashable {
    public var id: String
    public var requester: String
    /// Lower-cased, ends with `-request`.
    public var eventName: String
    public var dataType: String
    public var topic: String?
    public var timeoutSeconds: Double
    public var requesterActor: JSONValue?
    public var requesterProduct: String?
    public var targetActor: String?
    public var targetProduct: String?
    public var context: [String: JSONValue]
    public var timestamp: String?
    /// Generation B only: the one subscriber a `cast-get` addresses.
    public var targetSubscriber: String?

    public init(
        id: String, requester: String, eventName: String, dataType: String, topic: String?, timeoutSeconds: Double,
        requesterActor: JSONValue?, requesterProduct: String?, targetActor: String?, targetProduct: String?,
        context: [String: JSONValue], timestamp: String?, targetSubscriber: String? = nil
    ) {
        self.id = id
        self.requester = requester
        self.eventName = eventName
        self.dataType = dataType
        self.topic = topic
        self.timeoutSeconds = timeoutSeconds
        self.requesterActor = requesterActor
        self.requesterProduct = requesterProduct
        self.targetActor = targetActor
        self.targetProduct = targetProduct
        self.context = context
        self.timestamp = timestamp
        self.targetSubscriber = targetSubscriber
    }

    public static let defaultTimeout = 2.0
    public static let maxTimeout = 300.0

    public static func parse(_ body: JSONValue) throws(CastError) -> CastRequest {
        guard case .object(let root) = body else { throw CastError(400, "Invalid JSON body") }
        guard let requester = root["subscriber.name"]?.stringValue, !requester.isEmpty else {
            throw CastError(400, "Missing 'subscriber.name' parameter")
        }
        let event = root["event"]?.objectValue ?? [:]
        guard let rawName = event["hub.event"]?.stringValue, rawName.lowercased().hasSuffix("-request") else {
            throw CastError(400, "event.hub.event must be a *-request event name")
        }
        guard let id = root["id"]?.stringValue, !id.isEmpty else { throw CastError(400, "Missing 'id' on cast request body") }
        let name = rawName.lowercased()
        let context = event["context"]?.objectValue ?? [:]
        let dataType = context["dataType"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? dataType(forRequest: name)
        var timeout = defaultTimeout
        switch context["timeoutSeconds"] {
        case .int(let i)?: timeout = Double(i)
        case .double(let d)?: timeout = d
        case .string(let s)?: timeout = Double(s) ?? defaultTimeout
        default: break
        }
        if name == "idc-claude-request" { timeout = max(timeout, 180) }
        // "nan" reads as a Double but is no time; the reference's other non-numbers fall back to the default too.
        timeout = timeout.isNaN ? defaultTimeout : min(max(timeout, 0), maxTimeout)
        func filter(_ key: String) -> String? {
            guard let v = root[key]?.stringValue, !v.isEmpty, v != "*" else { return nil }
            return v
        }
        let topic = event["hub.topic"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        return CastRequest(
            id: id, requester: requester, eventName: name, dataType: dataType, topic: topic, timeoutSeconds: timeout,
            requesterActor: root["subscriber.actor"], requesterProduct: root["subscriber.product.name"]?.stringValue,
            targetActor: filter("target.actor"), targetProduct: filter("target.product.name"), context: context,
            timestamp: root["timestamp"]?.stringValue)
    }

    /// `status-request` → `status`; the screenshot types are upper-cased (`PNGTHUMBNAIL`).
    public static func dataType(forRequest name: String) -> String {
        let base = String(name.dropLast("-request".count))
        return ["pngthumbnail", "jpgthumbnail", "pngfullsize", "jpgfullsize"].contains(base) ? base.uppercased() : base
    }
}

/// One answer collected for a request.
public struct CastResponse: Sendable, Hashable {
    public var envelopeID: String?
    public var subscriber: String
    public var actor: JSONValue?
    public var productName: String?
    public var data: JSONValue

    var json: JSONValue {
        [
            "id": envelopeID.map(JSONValue.string) ?? .null,
            "subscriber": .string(subscriber),
            "actor": actor ?? .null,
            "productName": productName.map(JSONValue.string) ?? .null,
            "data": data,
        ]
    }
}

/// A request waiting for its answers.
public struct PendingCastRequest: Sendable {
    public var request: CastRequest
    /// Expected responders by subscriber name (two sockets with one name count once), in order.
    public var expected: [String]
    public var responses: [CastResponse] = []
    var answered: Set<String> = []
    var seenEnvelopes: Set<String> = []
    public var exists: Bool
    public var connected: Bool
    public var requesterTopic: String?
    public var targetExists: Bool
    public var targetConnected: Bool

    public var missing: [String] { expected.filter { !answered.contains($0.lowercased()) } }
    public var isComplete: Bool { missing.isEmpty }

    /// The collated HTTP body (the same shape on success and on timeout).
    public func collated(timedOut: Bool) -> JSONValue {
        let missing = self.missing
        var body: [String: JSONValue] = [
            "ok": .bool(missing.isEmpty),
            "id": .string(request.id),
            "subscriber.name": .string(request.requester),
            "dataType": .string(request.dataType),
            "subscriber.actor": request.requesterActor ?? .null,
            "target.actor": request.targetActor.map(JSONValue.string) ?? .null,
            "exists": .bool(exists),
            "connected": .bool(connected),
            "topic": (request.topic ?? requesterTopic).map(JSONValue.string) ?? .null,
            "endpoint": .null,
            "targetExists": .bool(targetExists),
            "targetConnected": .bool(targetConnected),
            "expected": .array(expected.map(JSONValue.string)),
            "missing": .array(missing.map(JSONValue.string)),
            "timedOut": .bool(timedOut && !missing.isEmpty),
            "requestedTopic": request.topic.map(JSONValue.string) ?? .null,
            "responses": .array(responses.map(\.json)),
        ]
        if let product = request.targetProduct { body["target.product.name"] = .string(product) }
        if timedOut && !missing.isEmpty {
            body["error"] = .string("Timeout after \(request.timeoutSeconds)s waiting for responses")
        }
        return .object(body)
    }
}
