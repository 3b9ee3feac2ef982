import AccessCore
import HTTPTypes
import WebSocketTransport

extension PlainTextError {
    /// A refused request: 401 with `WWW-Authenticate: Bearer error="invalid_token"` (no token, or one that does not
    /// verify), or 403 with `error="insufficient_scope"` (RFC 6750 §3.1), and the reason in the body too.
    package init(denied status: Int, _ reason: String) {
        self.init(HTTPResponse.Status(code: status), reason, wwwAuthenticate: BearerChallenge.header(status: status, reason: reason))
    }
}
