import OrderedCollections
import Foundation

/// What the edges must do after the hub state changed. The state decides; the edges only carry out.
public enum HubEffect: Sendable {
    /// Send one notification to these subscriptions (encoded once per edition by the edge).
    case deliver(EventNotification, to: [SubscriptionID])
    /// The subscription has been removed: tell the subscriber (websocket: `denied` frame then close;
    /// webhook: GET with `hub.mode=denied`).
    case deny(Subscription, reason: String)
    /// Verify a webhook subscriber's intent (STU2): GET the callback with a challenge.
    case verify(Subscription)
    /// A SyncError the hub made about one of this node's subscribers, for the `syncerror` subscribers of the topic
    /// on the other nodes of a cluster (only when `HubState.sharesSyncErrors`).
    case shareSyncError(EventNotification)
}

/// The shapes the hub writes that are not event notifications (C16, C21, C41, C44).
public enum HubMessages {
    /// The confirmation frame: exactly the four keys of C16.
    public static func confirmation(_ s: Subscription) -> JSONValue {
        [
            "hub.mode": "subscribe",
            "hub.topic": .string(s.topic),
            "hub.events": .string(s.eventsString),
            "hub.lease_seconds": .int(Int64(s.leaseSeconds)),
        ]
    }

    /// The denial frame (C21).
    public static func denial(_ s: Subscription, reason: String?) -> JSONValue {
        var o: [String: JSONValue] = [
            "hub.mode": "denied",
            "hub.topic": .string(s.topic),
            "hub.events": .string(s.eventsString),
        ]
        if let reason { o["hub.reason"] = .string(reason) }
        return .object(o)
    }

    /// The denial for an endpoint that is unknown or expired (C15), when there is no subscription to name.
    public static func invalidEndpoint() -> JSONValue {
        ["hub.mode": "denied", "hub.topic": "", "hub.events": "", "hub.reason": "invalid endpoint"]
    }

    /// GET current context: the STU3 object (C41, C42) or the STU2 bare array (C44).
    public static func currentContext(_ ctx: TopicContext?, flavor: Flavor) -> JSONValue {
        guard let current = ctx?.current else {
            switch flavor {
            case .stu3: return ["context.type": "", "context": []]
            case .stu2: return []
            }
        }
        switch flavor {
        case .stu2:
            return .array(current.open.event.context)
        case .stu3:
            let bundle: JSONValue = .object([
                "resourceType": "Bundle",
                "type": "collection",
                "entry": .array(current.content.values.map { .object(["resource": $0]) }),
            ])
            var context = current.open.event.context.filter { $0["key"]?.stringValue != "content" }
            context.append(["key": "content", "resource": bundle])
            return [
                "context.type": .string(current.resourceType),
                "context.versionId": .string(current.versionId),
                "context": .array(context),
            ]
        }
    }
}

/// Builds hub-generated SyncError notifications in the profile shape (C34).
public enum SyncErrorFactory {
    public static let systemBase = "https://fhircast.hl7.org/events/syncerror/"

    public static func make(
        topic: String, failedEventID: String, failedEventName: String, subscriberName: String,
        diagnostics: String, id: String, now: Date
    ) -> EventNotification {
        let outcome: JSONValue = [
            "resourceType": "OperationOutcome",
            "issue": [
                [
                    "severity": "warning",
                    "code": "processing",
                    "diagnostics": .string(diagnostics),
                    "details": [
                        "coding": [
                            ["system": .string(systemBase + "eventid"), "code": .string(failedEventID)],
                            ["system": .string(systemBase + "eventname"), "code": .string(failedEventName)],
                            ["system": .string(systemBase + "subscribername"), "code": .string(subscriberName)],
                        ]
                    ],
                ]
            ],
        ]
        return EventNotification(
            timestamp: Timestamp.format(now), id: id,
            event: Event(topic: topic, name: "SyncError", context: [["key": "operationoutcome", "resource": outcome]]))
    }
}
