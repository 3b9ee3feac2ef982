/// A request the hub refuses, with the HTTP status and a one-line human-readable reason.
public struct HubError: Error, Sendable, Hashable, CustomStringConvertible {
    public var status: Int
    public var message: String
    /// Seconds after which the same request may succeed (`Retry-After`), for a refusal that is temporary.
    public var retryAfter: Int?

    public init(_ status: Int, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
    }

    public static func badRequest(_ message: String) -> HubError { HubError(400, message) }
    public static func notFound(_ message: String) -> HubError { HubError(404, message) }
    public static func conflict(_ message: String) -> HubError { HubError(409, message) }
    public static func tooLarge(_ message: String) -> HubError { HubError(413, message) }
    public static func unsupportedMediaType(_ message: String) -> HubError { HubError(415, message) }
    public static func unavailable(_ message: String, retryAfter: Int? = nil) -> HubError {
        HubError(503, message, retryAfter: retryAfter)
    }

    public var description: String { "\(status): \(message)" }
}
