import Foundation

/// One audit record: who did, or was refused, what on which topic. Never a token, a secret or patient data: the topic
/// is the session's id, the events are names.
public struct AuditRecord: Sendable, Equatable, Codable {
    public var time: String
    /// `subscribe`, `unsubscribe`, `publish`, `readContext`, `request`, `admin`, or `authenticate`.
    public var action: String
    public var side: String
    /// `allowed` or `denied`.
    public var outcome: String
    /// The HTTP status answered.
    public var status: Int
    /// Who: the token's subject; nil when no token verified.
    public var subject: String?
    public var topic: String?
    public var events: [String]
    /// Why it was denied, as the client was told.
    public var reason: String?

    public init(
        time: Date = Date(), action: String, side: AccessRequest.Side, status: Int, subject: String?, topic: String?, events: [String] = [],
        reason: String? = nil
    ) {
        self.time = ISO8601DateFormatter().string(from: time)
        self.action = action
        self.side = side == .fhircast ? "fhircast" : "cast"
        self.outcome = (200..<300).contains(status) ? "allowed" : "denied"
        self.status = status
        self.subject = subject
        self.topic = topic
        self.events = events
        self.reason = reason
    }

    /// The record as one line of JSON, keys sorted.
    public var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

extension AccessRequest.Action {
    /// The action's name in audit records.
    public var auditName: String {
        switch self {
        case .subscribe: "subscribe"
        case .unsubscribe: "unsubscribe"
        case .publish: "publish"
        case .readContext: "readContext"
        case .request: "request"
        case .admin: "admin"
        }
    }
}
