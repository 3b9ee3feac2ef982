/// What a request asks to do, for the decision whether it may (issue #13 fills the policy; today every request may).
package struct AccessRequest: Sendable, Equatable {
    package enum Action: Sendable, Equatable {
        /// FHIRcast: subscribe to, or unsubscribe from, a topic.
        case subscribe, unsubscribe
        /// FHIRcast or Cast: publish an event on a topic.
        case publish
        /// FHIRcast: read a topic's current context.
        case readContext
    }

    package var action: Action
    package var topic: String
    /// The `Authorization` header as sent, if any.
    package var authorization: String?

    package init(_ action: Action, topic: String, authorization: String?) {
        self.action = action
        self.topic = topic
        self.authorization = authorization
    }
}

package enum AccessDecision: Sendable, Equatable {
    case allow
    /// Refused: 401 (who is asking is unknown) or 403 (they may not), with a reason for the client.
    case deny(status: Int, reason: String)
}

/// Decides whether a request is allowed. The decision is pure (a token's claims against the action and topic);
/// getting the claims (signature keys over HTTP, for OpenID Connect) is the implementation's edge.
package protocol AccessPolicy: Sendable {
    func decide(_ request: AccessRequest) async -> AccessDecision
}

/// Every request is allowed: castbridge without authorization, as it is until issue #13.
package struct OpenAccess: AccessPolicy {
    package init() {}
    package func decide(_ request: AccessRequest) async -> AccessDecision { .allow }
}
