import FHIRcastCore

/// What one node of a cluster tells the others about its embedded Cast hub (and what a store keeps of it). Every
/// node hears every message in one order, its own included.
///
/// - State changes (`subscribed` … `conferenceEnded`) are made at once on the node that takes the request; the others
///   make them when they hear them, and the sender skips its own.
/// - `published` and `removalNotice` are delivered by every node to its own sockets when it hears them, the sender
///   too, so that all subscribers of a topic see its events in the same order whichever node took each.
/// - `frame` and `response` carry a request's frames to the node that holds the target's socket, and the answers
///   back to the node that waits for them.
public enum CastClusterMessage: Codable, Sendable, Equatable {
    case subscribed(CastSubscription)
    case bound(endpoint: String)
    case removed(endpoints: [String])
    case cleared
    case reset(singleUser: Bool)
    /// An accepted publish, as it is fanned out (`CastHubState.accept`).
    case published(JSONValue)
    /// A `subscription-removed` notice (routed without the conference pass, and not remembered as a context).
    case removalNotice(JSONValue)
    case frame(endpoint: String, frame: JSONValue)
    case response(endpoint: String, frame: JSONValue)
    case conferenceCreated(CastConference, id: String, timestamp: String)
    case conferenceEnded(body: [String: JSONValue], id: String, timestamp: String)

    /// Whether a single node's store keeps it (WebSub subscriptions outlive a restart; sockets do not).
    public var isKeptOnOneNode: Bool {
        switch self {
        case .subscribed(let sub): !sub.isWebSocket
        case .removed, .cleared, .reset: true
        default: false
        }
    }

    /// Whether every node delivers it when heard, the sender included.
    public var isDeliveredWhenHeard: Bool {
        switch self {
        case .published, .removalNotice: true
        default: false
        }
    }
}

/// A message as heard: from which node, and whether that is this one.
public struct CastClusterNote: Sendable, Equatable {
    public var message: CastClusterMessage
    public var fromThisNode: Bool

    public init(message: CastClusterMessage, fromThisNode: Bool) {
        self.message = message
        self.fromThisNode = fromThisNode
    }
}

/// What a store gives back of the embedded Cast hub at start: on one node its WebSub subscriptions; in a cluster
/// every subscription and every conference.
public struct CastRecords: Sendable, Equatable {
    public var subscriptions: [CastSubscription]
    public var conferences: [CastConference]

    public init(subscriptions: [CastSubscription] = [], conferences: [CastConference] = []) {
        self.subscriptions = subscriptions
        self.conferences = conferences
    }
}
