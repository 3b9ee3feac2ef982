import BridgeService
import CastService
import FHIRcastService
import ServiceSupport
import WebSocketTransport
import CastCore
import FHIRcastCore
import Hummingbird

/// A refusal that escapes a route unwrapped is still a refusal: a `HubError` becomes its one-line plain-text answer,
/// a `CastError` the reference hub's `{"detail": …}`, with their own status, never Hummingbird's 500 for an unknown
/// error (the mutation test found a route that let one through, Docs/reliability.md).
struct ProtocolErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HubError {
            throw PlainTextError(error)
        } catch let error as CastError {
            throw CastHTTPError(error: error)
        }
    }
}
