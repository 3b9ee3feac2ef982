/// What a request asks to do, for the decision whether it may.
public struct AccessRequest: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        /// Subscribe to, or unsubscribe from, a topic.
        case subscribe, unsubscribe
        /// Publish an event on a topic.
        case publish
        /// FHIRcast: read a topic's current context.
        case readContext
        /// Cast: send a request to subscribers of a topic, or answer one (`/api/hub/request`, `cast-get`).
        case request
        /// The hubs' administration: the Cast admin snapshot, reset, and what operations add.
        case admin
    }

    /// Which protocol the request speaks: SMART FHIRcast scopes apply to FHIRcast requests.
    public enum Side: Sendable, Equatable {
        case fhircast, cast
    }

    public var action: Action
    public var side: Side
    /// The topic the request acts on (nil: none, as for admin routes). Cast's `*` means every user's topic.
    public var topic: String?
    /// The events it names: those a subscription asks for, or the one a publish carries.
    public var events: [String]
    /// The `Authorization` header as sent, if any.
    public var authorization: String?

    public init(_ action: Action, side: Side = .fhircast, topic: String?, events: [String] = [], authorization: String?) {
        self.action = action
        self.side = side
        self.topic = topic
        self.events = events
        self.authorization = authorization
    }
}
