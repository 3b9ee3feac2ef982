import Foundation

/// The unguessable identifier of a subscription: the last path segment of its websocket endpoint (C14).
public struct SubscriptionID: Hashable, Sendable, CustomStringConvertible, Codable {
    public let raw: String
    public init(_ raw: String) { self.raw = raw }
    public var description: String { raw }

    /// 128 bits from the system's cryptographic random source, as 32 hex digits (C14: ≥ 122 random bits).
    public static func random() -> SubscriptionID {
        var rng = SystemRandomNumberGenerator()
        let hex = (0..<2).map { _ in
            let v = rng.next() as UInt64
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }.joined()
        return SubscriptionID(hex)
    }
}

/// How a subscriber receives events.
public enum DeliveryChannel: Sendable, Hashable, Codable {
    case websocket
    case webhook(callback: String, secret: String)
}

/// One subscription of the hub.
public struct Subscription: Sendable, Hashable, Codable {
    public enum State: Sendable, Hashable, Codable {
        /// Websocket subscription accepted; its socket has not connected yet.
        case awaitingConnection
        /// Webhook subscription accepted; intent verification is in flight.
        case awaitingVerification
        /// Receiving events.
        case active
    }

    public let id: SubscriptionID
    public let topic: String
    public let flavor: Flavor
    public var channel: DeliveryChannel
    /// Granted events, canonical casing, in request order.
    public var events: [String]
    /// Lower-cased event names for matching (C12, C19).
    public var eventKeys: Set<String>
    public var subscriberName: String?
    public var leaseSeconds: Int
    public var expiresAt: Date
    public var state: State
    /// Who made it (the token's subject), for the per-owner cap.
    public var owner: String? = nil
    /// The anchor last shown to this subscriber per resource type (lower-cased type → `Type/id`), directly or by
    /// an implied open; an implied open of the same, still open anchor is not sent again (C29: no duplicates).
    public var shownAnchors: [String: String] = [:]

    /// The last event delivered, named in a SyncError if the subscriber later fails without a pending event.
    public var lastEventID: String?
    public var lastEventName: String?

    public var lastEvent: (id: String, name: String)? {
        get { lastEventID.map { ($0, lastEventName ?? "") } }
        set {
            lastEventID = newValue?.id
            lastEventName = newValue?.name
        }
    }

    public var isWebSocket: Bool { if case .websocket = channel { true } else { false } }

    public func wants(_ eventKey: String) -> Bool { eventKeys.contains(eventKey) }

    /// The granted events as the `hub.events` string of this subscriber's edition.
    public var eventsString: String { events.map { flavor.wireName($0) }.joined(separator: ",") }

    /// The name used in SyncError codings and diagnostics.
    public var displayName: String { subscriberName.flatMap { $0.isEmpty ? nil : $0 } ?? "unnamed subscriber" }
}
