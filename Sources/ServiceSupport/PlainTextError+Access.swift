import AccessCore
import Foundation
import HTTPTypes
import WebSocketTransport

extension PlainTextError {
    /// A refused request: 401 with `WWW-Authenticate: Bearer error="invalid_token"` (no token, or one that does not
    /// verify), or 403 with `error="insufficient_scope"` (RFC 6750 §3.1), and the reason in the body too.
    package init(denied status: Int, _ reason: String) {
        let code = status == 401 ? "invalid_token" : "insufficient_scope"
        let quoted = reason.replacingOccurrences(of: "\\", with: "").replacingOccurrences(of: "\"", with: "'")
        self.init(
            HTTPResponse.Status(code: status), reason,
            wwwAuthenticate: "Bearer realm=\"castbridge\", error=\"\(code)\", error_description=\"\(quoted)\"")
    }
}
