import HTTPTypes
import Hummingbird

/// CORS for the configured origins only (`--cors-origins`). A request from another origin gets no CORS headers, so
/// a browser keeps its page from reading the answer; with no origins configured no page from elsewhere can. `*` lets
/// every origin read, but never with credentials (cookies or the Authorization header a browser adds itself).
struct AllowedOriginsMiddleware<Context: RequestContext>: RouterMiddleware {
    let origins: Set<String>
    private let withCredentials: CORSMiddleware<Context>
    private let anyOrigin: CORSMiddleware<Context>

    init(origins: [String]) {
        self.origins = Set(origins.map { $0.lowercased() })
        let headers: [HTTPField.Name] = [.accept, .authorization, .contentType, .origin, .cacheControl, .init("X-Requested-With")!]
        let methods: [HTTPRequest.Method] = [.get, .post, .delete, .patch, .options]
        withCredentials = CORSMiddleware(
            allowOrigin: .originBased, allowHeaders: headers, allowMethods: methods, allowCredentials: true, maxAge: .seconds(3600))
        anyOrigin = CORSMiddleware(allowOrigin: .all, allowHeaders: headers, allowMethods: methods, allowCredentials: false, maxAge: .seconds(3600))
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin]?.lowercased() else { return try await next(request, context) }
        if origins.contains(origin) { return try await withCredentials.handle(request, context: context, next: next) }
        if origins.contains("*") { return try await anyOrigin.handle(request, context: context, next: next) }
        return try await next(request, context)
    }
}
