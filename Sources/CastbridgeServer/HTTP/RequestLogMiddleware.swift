import Hummingbird
import Logging

/// One log line per HTTP request once it is answered (info): its id, method, path, status and duration. The query is
/// left out: it may carry a token. WebSocket upgrades are taken before the router and are not logged here.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(request, context, status: response.status.code, since: start)
            return response
        } catch {
            log(request, context, status: (error as? any HTTPResponseError)?.status.code ?? 500, since: start)
            throw error
        }
    }

    private func log(_ request: Request, _ context: Context, status: Int, since start: ContinuousClock.Instant) {
        guard context.logger.logLevel <= .info else { return }
        let ms = (ContinuousClock.now - start) / .milliseconds(1)
        context.logger.info(
            "request",
            metadata: [
                "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(status)",
                "duration_ms": "\((ms * 1000).rounded() / 1000)",
            ])
    }
}
