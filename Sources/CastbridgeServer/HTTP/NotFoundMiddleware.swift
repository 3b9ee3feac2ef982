import BridgeService
import FHIRcastService
import ServiceSupport
import WebSocketTransport
import Hummingbird

/// Turns the router's bare 404/405 for unknown paths into a one-line reason that points at the right URL.
struct NotFoundMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed {
            throw PlainTextError(
                error.status,
                "no route for \(request.method) \(request.uri.path): the FHIRcast hub.url is /fhircast/STU3 (or /fhircast/STU2 for STU2 clients)")
        }
    }
}
