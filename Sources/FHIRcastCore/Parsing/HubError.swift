/// A request the hub refuses, with the HTTP status and a one-line human-readable reason.
public struct HubError: Error, Sendable, Hashable, CustomStringConvertible {
    public var status: Int
    public var message: String

    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    public static func badRequest(_ message: String) -> HubError { HubError(400, message) }
    public static func notFound(_ message: String) -> HubError { HubError(404, message) }
    public static func conflict(_ message: String) -> HubError { HubError(409, message) }
    public static func tooLarge(_ message: String) -> HubError { HubError(413, message) }
    public static func unsupportedMediaType(_ message: String) -> HubError { HubError(415, message) }
    public static func unavailable(_ message: String) -> HubError { HubError(503, message) }

    public var description: String { "\(status): \(message)" }
}
