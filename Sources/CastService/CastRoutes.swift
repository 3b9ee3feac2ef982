import AccessCore
import ServiceSupport
import CastCore
import FHIRcastCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The reference hub's error shape: `{"detail": …}` as JSON.
package struct CastHTTPError: HTTPResponseError, Sendable {
    package let error: CastError

    package init(error: CastError) { self.error = error }
    package var status: HTTPResponse.Status { HTTPResponse.Status(code: error.status) }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONBody.response(error.body, status: status)
    }
}

/// The Cast surface of the embedded hub (generation D paths, cast-protocol.md §1).
package struct CastRoutes: Sendable {
    package let hub: CastHub
    package let config: CastServiceConfiguration
    /// Whether a request may use a topic (the token's topic, or the any-topic role for `*`), or clear the hub.
    package let access: any AccessPolicy
    /// Where subscribes and unsubscribes are recorded, with their outcome.
    package let audit: any AuditSink

    package init(hub: CastHub, config: CastServiceConfiguration, access: any AccessPolicy = OpenAccess(), audit: any AuditSink = NoAudit()) {
        self.hub = hub
        self.config = config
        self.access = access
        self.audit = audit
    }

    /// What the request's token allows; a 401 or 403 in the reference's `{"detail": {"error", "error_description"}}`
    /// shape when it may not.
    @discardableResult
    private func authorize(_ action: AccessRequest.Action, topic: String?, _ request: Request) async throws(CastError) -> AccessGrant {
        let asked = AccessRequest(action, side: .cast, topic: topic, authorization: request.headers[.authorization])
        switch await access.decide(asked) {
        case .allow(let grant):
            return grant
        case .deny(let status, let reason):
            throw CastError(status, detail: ["error": .string(BearerChallenge.errorCode(status: status)), "error_description": .string(reason)])
        }
    }

    /// A subscribe or unsubscribe and its outcome, for the audit.
    private func record(_ action: String, grant: AccessGrant, fields: CastFields, status: Int, reason: String? = nil) {
        let events = (fields.string("hub.events") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        audit.record(
            AuditRecord(
                action: action, side: .cast, status: status, subject: grant.subject, topic: fields.string("hub.topic"), events: events,
                reason: reason))
    }

    package func add(to router: Router<AppRequestContext>) {
        // The router treats `/api/hub/` as `/api/hub`: one registration serves both spellings.
        router.post("api/hub") { request, _ in try await self.post(request) }
        router.delete("api/hub") { request, _ in try await self.delete(request) }
        // A bare OPTIONS gets 204 as on the reference; real preflights are answered by the CORS middleware.
        router.on("api/hub", method: .options) { _, _ in Response(status: .noContent) }
        router.post("api/hub/request") { request, _ in try await self.castRequest(request) }
        router.get("api/hub/payloads/:id") { _, context in try await self.payload(context) }
        router.get("api/hub/conference") { _, _ in JSONBody.response(await hub.conferences()) }
        // Generation B (§1.5, §3.3): where these do not clash with generation D.
        router.get("api/hub/cast-get") { request, _ in try await self.castGet(request) }
        router.post("api/hub/:topic") { request, context in
            try await self.post(request, pathTopic: try Self.topic(context))
        }
        router.get("api/hub/:topic") { _, context in
            JSONBody.response(await hub.lastContext(of: try Self.topic(context)))
        }
        router.post("api/hub/conference") { request, _ in
            try await self.answer(request) { body throws(CastError) in try await hub.createConference(body) }
        }
        router.delete("api/hub/conference") { request, _ in
            try await self.answer(request) { body throws(CastError) in try await hub.endConference(body) }
        }
        router.get("api/hub/conference-topics") { _, _ in JSONBody.response(await hub.conferenceTopics()) }
        router.get("api/hub/admin/snapshot") { _, _ in JSONBody.response(await hub.snapshot()) }
        router.post("oauth/authorize") { request, _ in
            try await self.answer(request) { body throws(CastError) in try await hub.authorize(body) }
        }
        router.post("oauth/token") { request, _ in
            let hubURL = AdvertisedURL.http(path: "/fhircast/STU3", request: request, config: self.config.edge)
            return try await self.answer(request) { body throws(CastError) in try await hub.token(body, hubURL: hubURL) }
        }
        router.post("api/admin/reset") { request, _ in
            let body = (try? await self.readObject(request)) ?? [:]
            let single: Bool
            switch body["single_user_mode"] {
            case .bool(let b)?: single = b
            case .string(let s)?: single = s.lowercased() == "true"
            default: single = false
            }
            do throws(CastError) { try await hub.reset(singleUserMode: single) } catch { throw CastHTTPError(error: error) }
            return JSONBody.response([
                "status": "reset",
                "message": "All subscriptions, conferences, audit log cleared, and all WebSocket connections disconnected",
            ])
        }
    }

    /// POST /api/hub: `hub.mode` → subscribe/unsubscribe; an `event` → publish; multipart → binary (not yet).
    package func post(_ request: Request, pathTopic: String? = nil) async throws -> Response {
        try await bearer(request)
        let type = request.headers[.contentType] ?? ""
        if type.lowercased().hasPrefix("multipart/") {
            do throws(CastError) {
                let store = try await hub.payloadStore()
                let upload = CastUpload(store: store, maxManifestBytes: config.edge.maxBodyBytes)
                let envelope = try await upload.receive(request.body, contentType: type)
                try await authorize(.publish, topic: Self.eventTopic(envelope, pathTopic: pathTopic), request)
                try await hub.publish(envelope, host: request.head.authority, pathTopic: pathTopic)
                return JSONBody.response(["status": "received"])
            } catch {
                throw CastHTTPError(error: error)
            }
        }
        let (fields, json) = try await readFields(request)
        do throws(CastError) {
            if let mode = fields.string("hub.mode") {
                switch mode.lowercased() {
                case "subscribe":
                    let grant = try await authorize(.subscribe, topic: fields.string("hub.topic") ?? "", request)
                    let sub: CastSubscription
                    do {
                        sub = try await hub.subscribe(fields, owner: grant.subject)
                    } catch {
                        record("subscribe", grant: grant, fields: fields, status: error.status, reason: error.detail.stringValue ?? error.detail["error_description"]?.stringValue)
                        throw error
                    }
                    record("subscribe", grant: grant, fields: fields, status: 202)
                    let endpoint = AdvertisedURL.webSocket(path: "/bind/\(sub.endpoint)", request: request, config: config.edge)
                    if sub.isWebSocket {
                        return JSONBody.response(["hub.channel.endpoint": .string(endpoint)], status: .accepted)
                    }
                    // WebSub: the stored record, without the secret (Docs/cast-hub.md).
                    return JSONBody.response(
                        [
                            "status": "subscribed",
                            "subscription": [
                                "channel": .string(sub.channelType), "callback": .string(sub.callback ?? ""),
                                "events": .string(sub.events), "topic": .string(sub.topic),
                                "lease": .int(Int64(sub.leaseSeconds)), "subscriber": .string(sub.name),
                                "actors": .array(sub.actors.map(JSONValue.string)), "websocket_endpoint": .string(sub.endpoint),
                            ],
                        ], status: .accepted)
                case "unsubscribe":
                    let grant = try await authorize(.unsubscribe, topic: fields.string("hub.topic"), request)
                    return try await unsubscribe(fields, grant: grant)
                default:
                    throw CastError(400, "Unsupported hub.mode '\(mode)'")
                }
            }
            guard let json, json["event"] != nil else {
                throw CastError(400, "Request must contain hub.mode (subscribe/unsubscribe) or an event to publish")
            }
            try await authorize(.publish, topic: Self.eventTopic(json, pathTopic: pathTopic), request)
            try await hub.publish(json, host: request.head.authority, pathTopic: pathTopic)
            return JSONBody.response(["status": "received"])
        } catch {
            throw CastHTTPError(error: error)
        }
    }

    /// DELETE /api/hub: unsubscribe by endpoint or callback+topic; an empty body clears everything.
    package func delete(_ request: Request) async throws -> Response {
        let (fields, _) = try await readFields(request)
        do throws(CastError) {
            if fields.values.isEmpty {
                try await authorize(.admin, topic: nil, request)
                try await hub.clear()
                return JSONBody.response(["status": "cleared"])
            }
            let grant = try await authorize(.unsubscribe, topic: fields.string("hub.topic"), request)
            return try await unsubscribe(fields, grant: grant)
        } catch {
            throw CastHTTPError(error: error)
        }
    }

    /// Unsubscribes, and records it with its outcome.
    private func unsubscribe(_ fields: CastFields, grant: AccessGrant) async throws(CastError) -> Response {
        let endpoint = fields.string("hub.channel.endpoint")
        let callback = fields.string("hub.callback")
        let topic = fields.string("hub.topic")
        guard endpoint != nil || (callback != nil && topic != nil) else {
            let refusal = CastError(400, "Unsubscribe needs hub.channel.endpoint, or hub.callback and hub.topic")
            record("unsubscribe", grant: grant, fields: fields, status: refusal.status, reason: refusal.detail.stringValue)
            throw refusal
        }
        let removed: Int
        do {
            removed = try await hub.unsubscribe(endpoint: endpoint, callback: callback, topic: topic)
        } catch {
            record("unsubscribe", grant: grant, fields: fields, status: error.status, reason: error.detail.stringValue)
            throw error
        }
        record("unsubscribe", grant: grant, fields: fields, status: 200)
        return JSONBody.response(["status": "unsubscribed", "removed": .int(Int64(removed))])
    }

    /// POST /api/hub/request (§3.1).
    package func castRequest(_ request: Request) async throws -> Response {
        try await bearer(request)
        let body = try await collect(request)
        do throws(CastError) {
            let json: JSONValue
            do { json = try JSONBody.decode(body) } catch { throw CastError(400, "Invalid JSON body") }
            let parsed = try CastRequest.parse(json)
            try await authorize(.request, topic: parsed.topic, request)
            return JSONBody.response(await hub.request(parsed))
        } catch {
            throw CastHTTPError(error: error)
        }
    }

    /// The topic an event is published on: its `hub.topic`, else the path's (generation B).
    static func eventTopic(_ envelope: JSONValue, pathTopic: String?) -> String? {
        if let topic = envelope["event"]?["hub.topic"]?.stringValue, !topic.isEmpty { return topic }
        return pathTopic
    }

    package static func topic(_ context: AppRequestContext) throws -> String {
        let raw = context.parameters.get("topic") ?? ""
        return raw.removingPercentEncoding ?? raw
    }

    /// `GET /api/hub/cast-get?subscriber&dataType&topic&actor` (§3.3): waits up to 5 s for the `get-response`.
    package func castGet(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        guard let subscriber = query["subscriber"].map(String.init), !subscriber.isEmpty else {
            throw CastHTTPError(error: CastError(400, "Missing 'subscriber' parameter"))
        }
        guard let dataType = query["dataType"].map(String.init), !dataType.isEmpty else {
            throw CastHTTPError(error: CastError(400, "Missing 'dataType' parameter"))
        }
        let topic = query["topic"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        var actor: JSONValue?
        if let raw = query["actor"].map(String.init), !raw.isEmpty {
            actor = (try? JSONValue.parse(Data(raw.utf8))) ?? .string(raw)
        }
        do throws(CastError) {
            try await authorize(.request, topic: topic, request)
        } catch {
            throw CastHTTPError(error: error)
        }
        let reply = await hub.castGet(subscriber: subscriber, dataType: dataType, topic: topic, actor: actor, timeout: .seconds(config.castGetTimeoutSeconds))
        return JSONBody.response(reply)
    }

    /// `GET /api/hub/payloads/{id}`: one stored chunk, streamed from disk (§4.1).
    package func payload(_ context: AppRequestContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        let store: PayloadStore
        do { store = try await hub.payloadStore() } catch { throw CastHTTPError(error: error) }
        let found: PayloadStore.Found?
        do {
            found = try await store.find(id)
        } catch {
            throw CastHTTPError(error: CastError(503, "the payload could not be read from the cluster's store: \(error)"))
        }
        switch found {
        case nil:
            throw CastHTTPError(error: CastError(404, "payload not found or expired"))
        case .local(let entry)?:
            let body = try await FileIO().loadFile(path: String(describing: entry.path), context: context)
            return Self.download(body, mimeType: entry.mimeType, fileName: entry.fileName, size: entry.size)
        case .shared(let payload)?:
            return Self.download(
                ResponseBody(byteBuffer: payload.bytes), mimeType: payload.mimeType, fileName: payload.fileName, size: payload.bytes.readableBytes)
        }
    }

    static func download(_ body: ResponseBody, mimeType: String, fileName: String, size: Int) -> Response {
        let safeName = fileName.replacingOccurrences(of: "\"", with: "")
        return Response(
            status: .ok,
            headers: [
                .contentType: mimeType, .contentDisposition: "attachment; filename=\"\(safeName)\"",
                .cacheControl: "no-store", .contentLength: String(size),
            ],
            body: body)
    }

    /// Bearer enforcement, when configured (§6.1): 401 `{detail: {error: "invalid_token", …}}`.
    private func bearer(_ request: Request) async throws {
        do throws(CastError) {
            try await hub.checkBearer(request.headers[.authorization])
        } catch {
            throw CastHTTPError(error: error)
        }
    }

    // MARK: Bodies

    private func collect(_ request: Request) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: config.edge.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw CastHTTPError(error: CastError(413, "request body is larger than the limit of \(config.edge.maxBodyBytes) bytes"))
        }
    }

    /// Reads a form or JSON body, runs `action`, and answers its JSON, or the reference's `{"detail": …}` error.
    private func answer(
        _ request: Request, _ action: ([String: JSONValue]) async throws(CastError) -> JSONValue
    ) async throws -> Response {
        let body = try await readObject(request)
        do throws(CastError) {
            return JSONBody.response(try await action(body))
        } catch {
            throw CastHTTPError(error: error)
        }
    }

    /// A JSON or form body as an object (conference requests).
    private func readObject(_ request: Request) async throws -> [String: JSONValue] {
        let (fields, json) = try await readFields(request)
        return json?.objectValue ?? fields.values
    }

    /// Form or JSON body, with the query parameters merged in (§1.1).
    private func readFields(_ request: Request) async throws -> (CastFields, JSONValue?) {
        let body = try await collect(request)
        let query = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
        let type = request.headers[.contentType]?.lowercased() ?? ""
        let first = body.readableBytesView.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        if type.containsBytes("json") || (type.isEmpty && first == UInt8(ascii: "{")) {
            let json: JSONValue
            do { json = try JSONBody.decode(body) } catch { throw CastHTTPError(error: CastError(400, "Invalid JSON body")) }
            guard case .object(let object) = json else {
                throw CastHTTPError(error: CastError(400, "Invalid JSON body: expected an object"))
            }
            return (CastFields.merge(query: query, body: object), json)
        }
        if body.readableBytes == 0 { return (CastFields.merge(query: query, body: [:]), nil) }
        // A body that is neither JSON nor a form is refused as the FHIRcast hub refuses it (a form without a
        // Content-Type is still read, as the reference reads one).
        if !type.isEmpty, !type.hasPrefix("application/x-www-form-urlencoded") {
            let shown = type.split(separator: ";").first.map(String.init) ?? type
            throw CastHTTPError(
                error: CastError(415, "Unsupported Content-Type '\(shown)': send application/json or application/x-www-form-urlencoded"))
        }
        do {
            let form = try FormFields.parse(String(buffer: body))
            var object: [String: JSONValue] = [:]
            for f in form.fields { object[f.name] = .string(f.value) }
            return (CastFields.merge(query: query, body: object), nil)
        } catch {
            throw CastHTTPError(error: CastError(400, error.message))
        }
    }
}
