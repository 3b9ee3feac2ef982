import Foundation

/// What a token lets a request do, when it may.
public struct AccessGrant: Sendable, Equatable {
    /// For a subscription: the events asked for that the token lets the subscriber receive, in the order asked
    /// (nil: every event asked for).
    public var events: [String]?
    /// When the token expires: a subscription's lease ends by then (C7). Nil: no token, or no expiry.
    public var expiresAt: Date?
    /// Who is asking (the token's user or client), for the audit record; never the token itself.
    public var subject: String?

    public init(events: [String]? = nil, expiresAt: Date? = nil, subject: String? = nil) {
        self.events = events
        self.expiresAt = expiresAt
        self.subject = subject
    }

    /// No restriction: every request is allowed as asked (`--auth off`).
    public static let unrestricted = AccessGrant()
}

public enum AccessDecision: Sendable, Equatable {
    case allow(AccessGrant)
    /// Refused: 401 (who is asking is unknown: no token, or one that does not verify) or 403 (they may not), with a
    /// reason for the client.
    case deny(status: Int, reason: String)

    /// A 401 for a token that is missing or does not verify (RFC 6750 `invalid_token`).
    public static func invalidToken(_ reason: String) -> AccessDecision { .deny(status: 401, reason: reason) }
    /// A 403: the token verifies but does not allow this.
    public static func forbidden(_ reason: String) -> AccessDecision { .deny(status: 403, reason: reason) }
}
