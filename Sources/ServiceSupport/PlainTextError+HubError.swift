import FHIRcastCore
import HTTPTypes
import WebSocketTransport

extension PlainTextError {
    /// A protocol error's status, reason and `Retry-After`.
    public init(_ error: HubError) {
        self.init(HTTPResponse.Status(code: error.status), error.message, retryAfter: error.retryAfter)
    }
}
