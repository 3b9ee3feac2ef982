import FHIRcastCore
import Foundation

/// A Cast request body as the reference hub reads it: form or JSON, query parameters merged in, and the
/// underscore spellings (`hub_mode`, `subscriber_product_name`, …) accepted for every dotted key.
public struct CastFields: Sendable, Hashable {
    public var values: [String: JSONValue]

    public init(_ values: [String: JSONValue]) {
        var normalised: [String: JSONValue] = [:]
        for (k, v) in values { normalised[Self.canonicalKey(k)] = v }
        self.values = normalised
    }

    /// `hub_lease_seconds` → `hub.lease_seconds`, `subscriber_client_info` → `subscriber.client_info`.
    static func canonicalKey(_ key: String) -> String {
        if let known = aliases[key] { return known }
        return key
    }

    static let canonicalKeys = [
        "hub.mode", "hub.topic", "hub.events", "hub.channel.type", "hub.channel.endpoint", "hub.callback", "hub.secret",
        "hub.lease_seconds", "hub.lease", "subscriber.name", "subscriber.actors", "subscriber.product.name",
        "subscriber.product.version", "subscriber.client_info",
    ]
    static let aliases: [String: String] = Dictionary(
        uniqueKeysWithValues: canonicalKeys.map { ($0.replacingOccurrences(of: ".", with: "_"), $0) })

    /// A field as text: strings as they are, numbers and booleans printed, anything else nil.
    public func string(_ key: String) -> String? {
        switch values[key] {
        case .string(let s)?: s
        case .int(let i)?: String(i)
        case .double(let d)?: String(d)
        case .bool(let b)?: String(b)
        default: nil
        }
    }

    /// Merges form fields or a JSON object with query parameters (the body wins).
    public static func merge(query: [(String, String)], body: [String: JSONValue]) -> CastFields {
        var all: [String: JSONValue] = [:]
        for (k, v) in query { all[canonicalKey(k)] = .string(v) }
        for (k, v) in body { all[canonicalKey(k)] = v }
        return CastFields(all)
    }
}

/// The error shape of the reference hub (FastAPI): `{"detail": …}` with a status.
public struct CastError: Error, Sendable, Hashable {
    public var status: Int
    public var detail: JSONValue

    public init(_ status: Int, _ detail: String) {
        self.status = status
        self.detail = .string(detail)
    }

    public init(_ status: Int, detail: JSONValue) {
        self.status = status
        self.detail = detail
    }

    public var body: JSONValue { ["detail": detail] }
}
