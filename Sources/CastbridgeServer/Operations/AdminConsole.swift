import AccessCore
import BridgeService
import CastCore
import CastService
import FHIRcastCore
import FHIRcastService
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import ServiceSupport
import WebSocketTransport

/// The admin console (`/admin`, Docs/operations.md): the page, its live view and its two actions. The page and its
/// assets hold no data and load without a token; everything under `/admin/api/` needs the admin role
/// (`AuthenticationMiddleware`), checked here again for the audit record's subject.
///
/// What the view shows never includes a token, a secret, an HMAC key, a WebSocket endpoint or a callback's path: the
/// hubs' console views leave them out (`HubState.consoleView`, `CastHubState.consoleView`).
struct AdminConsole: Sendable {
    let fhircast: FHIRcastHub
    /// The embedded Cast hub; nil when bridged to an external one (`externalCastHub`).
    let cast: CastHub?
    let externalCastHub: String?
    let bridge: CastBridge?
    let audit: RecentAudit
    let access: any AccessPolicy
    /// Show resource ids unmasked (`--admin-show-ids`).
    let revealsIDs: Bool
    /// How often the live view looks for a change.
    let refresh: Duration
    /// What the node says of itself: its store kind and auth mode (never the store's URL, which may hold a password).
    let node: JSONValue

    /// Paths that load without a token: the page and its assets.
    static let openPaths: Set<String> = ["/admin", "/admin/", "/admin/console.js", "/admin/console.css"]

    /// The longest one live view lasts; the page then follows again (a proxy's idle timeout, a token that expired).
    static let streamLifetime = Duration.seconds(600)

    func add(to router: Router<AppRequestContext>) {
        router.get("admin") { _, _ in Self.asset(AdminAssets.page, type: "text/html; charset=utf-8") }
        router.get("admin/console.js") { _, _ in Self.asset(AdminAssets.script, type: "text/javascript; charset=utf-8") }
        router.get("admin/console.css") { _, _ in Self.asset(AdminAssets.style, type: "text/css; charset=utf-8") }
        router.get("admin/api/snapshot") { request, _ in
            _ = try await self.admin(request)
            return JSONBody.response(await self.snapshot())
        }
        router.get("admin/api/stream") { request, _ in
            _ = try await self.admin(request)
            return self.stream()
        }
        router.post("admin/api/subscriptions/end") { request, context in
            let subject = try await self.admin(request)
            let (hub, ref) = try await Self.fields(request, context, "hub", "ref")
            return try await self.end(hub: hub, ref: ref, subject: subject)
        }
        router.post("admin/api/topics/clear") { request, context in
            let subject = try await self.admin(request)
            let (hub, topic) = try await Self.fields(request, context, "hub", "topic")
            return try await self.clear(hub: hub, topic: topic, subject: subject)
        }
    }

    // MARK: The view

    func snapshot() async -> JSONValue {
        var o: [String: JSONValue] = [
            "node": node,
            "fhircast": ["topics": await fhircast.console(revealsIDs: revealsIDs)],
            "audit": .array(audit.latest.compactMap { try? JSONBody.decode(ByteBuffer(string: $0.jsonLine)) }),
        ]
        if let cast {
            o["cast"] = await cast.console()
        } else if let externalCastHub {
            o["cast"] = ["external": .string(externalCastHub)]
        }
        if let bridge { o["bridge"] = await bridge.status() }
        return .object(o)
    }

    /// Server-sent events: the view at once, then again each time it changes; a comment every 15 s keeps proxies from
    /// closing a quiet stream. Ends at graceful shutdown (within `refresh`) and after `streamLifetime`.
    private func stream() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-store"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                let ends = ContinuousClock.now + Self.streamLifetime
                var last: ByteBuffer?
                var quietSince = ContinuousClock.now
                while ContinuousClock.now < ends, !Task.isShuttingDownGracefully, !Task.isCancelled {
                    let view = JSONBody.encode(await self.snapshot())
                    if view != last {
                        var event = ByteBuffer(string: "data: ")
                        event.writeImmutableBuffer(view)
                        event.writeString("\n\n")
                        try await writer.write(event)
                        last = view
                        quietSince = .now
                    } else if ContinuousClock.now - quietSince >= .seconds(15) {
                        try await writer.write(ByteBuffer(string: ": still here\n\n"))
                        quietSince = .now
                    }
                    try? await Task.sleep(for: self.refresh)
                }
                try await writer.finish(nil)
            })
    }

    // MARK: Actions

    private func end(hub: String, ref: String, subject: String?) async throws -> Response {
        let ended = try await on(
            hub, doing: "end their subscriptions", fhircast: { hub throws(HubError) in try await hub.end(ref: ref) },
            cast: { hub throws(CastError) in try await hub.end(ref: ref) })
        record("end subscription \(ref)", hub: hub, topic: nil, status: ended ? 200 : 404, subject: subject)
        guard ended else { throw PlainTextError(.notFound, "no subscription \(ref) on this node (it may have ended already)") }
        return JSONBody.response(["ended": true])
    }

    private func clear(hub: String, topic: String, subject: String?) async throws -> Response {
        let ended = try await on(
            hub, doing: "clear their topics", fhircast: { hub throws(HubError) in try await hub.clear(topic: topic) },
            cast: { hub throws(CastError) in try await hub.clear(topic: topic) })
        record("clear topic (\(ended) subscriptions ended)", hub: hub, topic: topic, status: 200, subject: subject)
        return JSONBody.response(["ended": .int(Int64(ended))])
    }

    /// Runs an action on the hub the body names, its errors as plain-text answers.
    private func on<T: Sendable>(
        _ hub: String, doing what: String, fhircast: (FHIRcastHub) async throws(HubError) -> T,
        cast: (CastHub) async throws(CastError) -> T
    ) async throws -> T {
        switch hub {
        case "fhircast":
            do throws(HubError) { return try await fhircast(self.fhircast) } catch { throw PlainTextError(error) }
        case "cast":
            guard let castHub = self.cast else { throw PlainTextError(.badRequest, "Cast apps use an external hub here; \(what) there") }
            do throws(CastError) {
                return try await cast(castHub)
            } catch {
                throw PlainTextError(HTTPResponse.Status(code: error.status), error.detail.stringValue ?? "\(error.detail)")
            }
        default:
            throw PlainTextError(.badRequest, "hub must be 'fhircast' or 'cast', not '\(hub)'")
        }
    }

    private func record(_ what: String, hub: String, topic: String?, status: Int, subject: String?) {
        audit.record(
            AuditRecord(action: "admin", side: hub == "cast" ? .cast : .fhircast, status: status, subject: subject, topic: topic, reason: what))
    }

    // MARK: Helpers

    /// The admin's subject, or the refusal (the middleware checked already; this also covers a test's own policy).
    private func admin(_ request: Request) async throws -> String? {
        switch await access.decide(AccessRequest(.admin, topic: nil, authorization: request.headers[.authorization])) {
        case .allow(let grant): return grant.subject
        case .deny(let status, let reason): throw PlainTextError(denied: status, reason)
        }
    }

    /// Two string fields of a JSON body. Only `application/json` is taken: a page elsewhere cannot send that to
    /// castbridge without a CORS preflight, which castbridge refuses unless its origin is allowed.
    private static func fields(_ request: Request, _ context: AppRequestContext, _ a: String, _ b: String) async throws -> (String, String) {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw PlainTextError(.unsupportedMediaType, "send the action as application/json")
        }
        let body = try await request.body.collect(upTo: 64 << 10)
        let json: JSONValue
        do throws(HubError) { json = try JSONBody.decode(body) } catch { throw PlainTextError(error) }
        guard let first = json[a]?.stringValue, !first.isEmpty, let second = json[b]?.stringValue, !second.isEmpty else {
            throw PlainTextError(.badRequest, "the body must be a JSON object with the strings '\(a)' and '\(b)'")
        }
        return (first, second)
    }

    private static func asset(_ text: String, type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-store"
        headers[HTTPField.Name("Content-Security-Policy")!] = AdminAssets.contentSecurityPolicy
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
