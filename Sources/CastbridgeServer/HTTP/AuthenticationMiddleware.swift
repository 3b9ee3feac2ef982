import AccessControl
import AccessCore
import Foundation
import HTTPTypes
import Hummingbird
import FHIRcastCore
import ServiceSupport
import WebSocketTransport

/// With tokens on, every HTTP call must carry a bearer token that verifies, except discovery, `/health` and the
/// development server's own endpoints; the administration routes need the admin role too. Checked before any body is
/// read. What a verified token may do with a topic is decided by the routes (`AccessRules`).
struct AuthenticationMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: TokenAccess

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if Self.isOpen(path) { return try await next(request, context) }
        let authorization = request.headers[.authorization]
        if Self.isAdministration(path) {
            if case .deny(let status, let reason) = await tokens.decide(AccessRequest(.admin, topic: nil, authorization: authorization)) {
                throw AuthenticationRefusal(status: status, reason: reason, cast: true)
            }
        } else if case .failure(let refusal) = await tokens.authenticate(authorization) {
            tokens.audit.record(
                AuditRecord(
                    action: "authenticate", side: path.hasPrefix("/api/") ? .cast : .fhircast, status: refusal.status, subject: nil,
                    topic: nil, reason: "\(request.method) \(path): \(refusal.description)"))
            throw AuthenticationRefusal(status: refusal.status, reason: refusal.description, cast: path.hasPrefix("/api/"))
        }
        return try await next(request, context)
    }

    /// Discovery, health, metrics, the admin console's page (not its API) and the development server's endpoints answer
    /// without a token.
    static func isOpen(_ path: String) -> Bool {
        path == "/health" || path.hasPrefix("/health/") || path == "/metrics" || AdminConsole.openPaths.contains(path)
            || path.hasSuffix("/.well-known/fhircast-configuration")
            || path == "/oauth/authorize" || path == "/oauth/token"
    }

    static func isAdministration(_ path: String) -> Bool {
        path.hasPrefix("/api/hub/admin") || path.hasPrefix("/api/admin") || path.hasPrefix("/admin")
    }
}

/// A refused token: 401 or 403 with `WWW-Authenticate` (RFC 6750), as plain text, or for the Cast routes in the
/// reference hub's JSON shape `{"detail": {"error", "error_description"}}`.
struct AuthenticationRefusal: HTTPResponseError {
    let status: HTTPResponse.Status
    let reason: String
    let cast: Bool

    init(status: Int, reason: String, cast: Bool) {
        self.status = HTTPResponse.Status(code: status)
        self.reason = reason
        self.cast = cast
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        guard cast else { return try PlainTextError(denied: status.code, reason).response(from: request, context: context) }
        var response = JSONBody.response(
            ["detail": ["error": .string(BearerChallenge.errorCode(status: status.code)), "error_description": .string(reason)]],
            status: status)
        response.headers[.wwwAuthenticate] = BearerChallenge.header(status: status.code, reason: reason)
        return response
    }
}
