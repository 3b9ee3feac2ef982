import AsyncHTTPClient
import BridgeCore
import CastCore
import FHIRcastCore
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// An external Cast hub (cast-protocol.md §1): subscribe over HTTP, bind the returned socket (rebased onto the
/// configured hub's scheme and host, §1.1), publish and request over HTTP, with a bearer token when configured.
actor RemoteCastUpstream: CastUpstream {
    /// `http(s)://host:port` with no trailing slash and no `/api/hub`.
    let root: String
    let dialect: CastDialect
    let auth: CastUpstreamAuth
    let http: HTTPClient
    let publishTimeout: TimeAmount
    let maxFrameBytes: Int
    let logger: Logger
    private var token: (value: String, expires: Date)?

    nonisolated var label: String { root }

    init(url: String, dialect: CastDialect, auth: CastUpstreamAuth, http: HTTPClient, publishTimeout: Double, maxFrameBytes: Int, logger: Logger) {
        self.root = RemoteHubURL.root(of: url)
        self.dialect = dialect
        self.auth = auth
        self.http = http
        self.publishTimeout = TimeAmount(.seconds(publishTimeout))
        self.maxFrameBytes = maxFrameBytes
        self.logger = logger
    }

    // MARK: Tokens

    private struct UpstreamError: Error, CustomStringConvertible {
        var description: String
    }

    private func bearer(refresh: Bool = false) async throws -> String? {
        if case .none = auth { return nil }
        if case .bearer(let fixed) = auth { return fixed }
        if !refresh, let token, token.expires > Date() { return token.value }
        let (value, lifetime) = try await fetchToken()
        token = (value, Date().addingTimeInterval(max(10, lifetime - 30)))
        return value
    }

    private func fetchToken() async throws -> (String, Double) {
        let answer: JSONValue
        switch auth {
        case .none, .bearer: throw UpstreamError(description: "no token flow configured")
        case .mockOAuth(let user):
            var form = ["client_product_name": "castbridge"]
            if let user { form["user_name"] = user }
            let code = try await postForm("\(root)/oauth/authorize", form)
            guard let c = code["code"]?.stringValue else {
                throw UpstreamError(description: "the Cast hub's /oauth/authorize returned no code")
            }
            answer = try await postForm("\(root)/oauth/token", ["grant_type": "authorization_code", "code": c])
        case .clientCredentials(let url, let id, let secret):
            answer = try await postForm(url, ["grant_type": "client_credentials", "client_id": id, "client_secret": secret])
        }
        guard let access = answer["access_token"]?.stringValue else {
            throw UpstreamError(description: "the token endpoint returned no access_token")
        }
        let lifetime: Double =
            switch answer["expires_in"] {
            case .int(let i)?: Double(i)
            case .double(let d)?: d
            default: 3600
            }
        return (access, lifetime)
    }

    private func postForm(_ url: String, _ form: [String: String], bearer: String? = nil) async throws -> JSONValue {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        request.body = .bytes(ByteBuffer(string: FormEncoding.encode(form)))
        let response = try await http.execute(request, timeout: publishTimeout)
        let body = try await response.body.collect(upTo: 1 << 20)
        guard (200..<300).contains(Int(response.status.code)) else {
            throw UpstreamError(description: "\(url) answered \(response.status.code): \(String(buffer: body).prefix(300))")
        }
        guard let json = try? JSONBody.decode(body) else {
            throw UpstreamError(description: "\(url) answered with something that is not JSON")
        }
        return json
    }

    // MARK: CastUpstream

    func connect(events: [String], identity: BridgeIdentity) async throws -> CastLink {
        let fields = Self.subscribeFields(events: events, identity: identity)
        var answer: JSONValue
        do {
            answer = try await postForm("\(root)/api/hub", fields, bearer: try await bearer())
        } catch let error as UpstreamError where error.description.contains(" 401") && token != nil {
            answer = try await postForm("\(root)/api/hub", fields, bearer: try await bearer(refresh: true))
        }
        guard let endpoint = answer["hub.channel.endpoint"]?.stringValue, !endpoint.isEmpty else {
            throw UpstreamError(description: "the Cast hub's subscribe answer has no hub.channel.endpoint")
        }
        let url = RemoteHubURL.rebase(endpoint, onto: root)
        return try await Self.open(url, endpoint: endpoint, maxFrameBytes: maxFrameBytes, logger: logger)
    }

    private enum SocketEvent: Sendable {
        case opened
        case failed(String)
    }

    /// Opens the socket; frames go to the link's stream, outgoing frames through its `send`.
    private static func open(_ url: String, endpoint: String, maxFrameBytes: Int, logger: Logger) async throws -> CastLink {
        let (frames, frameSink) = AsyncStream<SessionCommand>.makeStream(bufferingPolicy: .bufferingOldest(100_000))
        let (outgoing, outgoingSink) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingOldest(10_000))
        let (events, eventSink) = AsyncStream<SocketEvent>.makeStream()
        let task = Task {
            do {
                // Protocol pings find a hub that vanished without closing (the reference pings every 20 s too).
                try await WebSocketClient.connect(
                    url: url, configuration: .init(maxFrameSize: maxFrameBytes, autoPing: .enabled(timePeriod: .seconds(20))),
                    logger: logger
                ) { inbound, outbound, _ in
                    eventSink.yield(.opened)
                    // The old bind step: the hub only logs it, but clients send it (§1.3).
                    try await outbound.write(.text(#"{"hub.channel.endpoint":"\#(url)"}"#))
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await message in inbound.messages(maxSize: maxFrameBytes) {
                                guard case .text(let text) = message else { continue }  // gen B binary frames: unused
                                if text.contains(#""type""#), let value = try? JSONBody.decode(ByteBuffer(string: text)),
                                    value["type"]?.stringValue == "ping"
                                {
                                    outgoingSink.yield(#"{"type":"pong","timestamp":"\#(Timestamp.format(Date()))"}"#)
                                    continue
                                }
                                if case .dropped = frameSink.yield(.frame(ByteBuffer(string: text))) {
                                    throw UpstreamError(description: "the bridge fell behind the Cast hub")
                                }
                            }
                        }
                        group.addTask {
                            for await text in outgoing { try await outbound.write(.text(text)) }
                            try await outbound.close(.normalClosure, reason: nil)
                        }
                        try await group.next()
                        group.cancelAll()
                    }
                }
            } catch {
                eventSink.yield(.failed("\(error)"))
            }
            eventSink.finish()
            frameSink.finish()
        }
        for await event in events {
            switch event {
            case .opened:
                return CastLink(
                    frames: frames,
                    send: { frame in
                        if case .enqueued = outgoingSink.yield(String(buffer: JSONBody.encode(frame))) { return true }
                        return false
                    },
                    close: {
                        outgoingSink.finish()
                        task.cancel()
                    })
            case .failed(let why):
                throw UpstreamError(description: "the Cast hub's socket \(url) could not be opened: \(why)")
            }
        }
        throw UpstreamError(description: "the Cast hub's socket \(url) closed at once")
    }

    func publish(_ envelope: JSONValue, topic: String) async -> PublishOutcome {
        let url: String
        switch dialect {
        case .d: url = "\(root)/api/hub"
        case .b: url = "\(root)/api/hub/\(RemoteHubURL.segment(topic))"
        }
        let token: String?
        do {
            token = try await bearer()
        } catch {
            return .notSent("no token: \(error)")
        }
        var outcome = await post(url, json: envelope, bearer: token)
        if case .failed(let why) = outcome, why.hasPrefix("401"), case .mockOAuth = auth {
            if let fresh = try? await bearer(refresh: true) { outcome = await post(url, json: envelope, bearer: fresh) }
        }
        return outcome
    }

    func publishBatch(_ body: ByteBuffer, contentType: String, topic: String) async -> PublishOutcome {
        let token: String?
        do {
            token = try await bearer()
        } catch {
            return .notSent("no token: \(error)")
        }
        return await post("\(root)/api/hub", body: body, contentType: contentType, bearer: token)
    }

    private func post(_ url: String, json: JSONValue, bearer: String?) async -> PublishOutcome {
        await post(url, body: JSONBody.encode(json), contentType: "application/json", bearer: bearer)
    }

    private func post(_ url: String, body: ByteBuffer, contentType: String, bearer: String?) async -> PublishOutcome {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        request.body = .bytes(body)
        do {
            let response = try await http.execute(request, timeout: publishTimeout)
            let body = try await response.body.collect(upTo: 64 << 10)
            let code = Int(response.status.code)
            if (200..<300).contains(code) { return .sent }
            // 502/503/504 come from proxies and hubs that did not process the request.
            if [502, 503, 504].contains(code) { return .notSent("the Cast hub answered \(code)") }
            // 429 and 507: processed and refused for now, over a connection that works.
            if [429, 507].contains(code) { return .busy("\(code) from the Cast hub: \(String(buffer: body).prefix(300))") }
            return .failed("\(code) from the Cast hub: \(String(buffer: body).prefix(300))")
        } catch {
            if Self.isConnectFailure(error) { return .notSent("the Cast hub cannot be reached: \(error)") }
            return .failed("the Cast hub may not have received it: \(error)")
        }
    }

    /// Failures before a request could reach the hub: sending again cannot duplicate.
    static func isConnectFailure(_ error: any Error) -> Bool {
        if error is NIOConnectionError { return true }
        if let e = error as? HTTPClientError, e == .connectTimeout { return true }
        if let e = error as? IOError, [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH].contains(e.errnoCode) { return true }
        if case ChannelError.connectTimeout = error { return true }
        return false
    }

    func request(_ request: CastRequest) async throws(HubError) -> JSONValue {
        do {
            switch dialect {
            case .d:
                var http = HTTPClientRequest(url: "\(root)/api/hub/request")
                http.method = .POST
                http.headers.add(name: "Content-Type", value: "application/json")
                if let token = try await bearer() { http.headers.add(name: "Authorization", value: "Bearer \(token)") }
                http.body = .bytes(JSONBody.encode(request.body))
                return try await Self.json(self.http.execute(http, timeout: .seconds(Int64(request.timeoutSeconds.rounded(.up)) + 10)))
            case .b:
                var components = URLComponents(string: "\(root)/api/hub/cast-get")
                components?.queryItems = [
                    URLQueryItem(name: "subscriber", value: request.targetSubscriber ?? ""),
                    URLQueryItem(name: "dataType", value: request.dataType),
                    URLQueryItem(name: "topic", value: request.topic ?? ""),
                ]
                guard let url = components?.string else { throw HubError(500, "could not build the cast-get URL") }
                var http = HTTPClientRequest(url: url)
                if let token = try await bearer() { http.headers.add(name: "Authorization", value: "Bearer \(token)") }
                let answer = try await Self.json(self.http.execute(http, timeout: .seconds(30)))
                return CastGetAnswer.collated(answer, request: request)
            }
        } catch let error as HubError {
            throw error
        } catch {
            throw HubError(502, "the Cast hub could not run the request: \(error)")
        }
    }

    /// `GET /api/hub/payloads/{id}` of the hub, streamed.
    nonisolated func readPayload(_ id: String, into body: (ByteBuffer) async throws -> Void) async throws {
        let response = try await http.execute(HTTPClientRequest(url: "\(root)/api/hub/payloads/\(RemoteHubURL.segment(id))"), timeout: .seconds(600))
        guard response.status == .ok else { throw PayloadGone(id: id) }
        for try await piece in response.body { try await body(piece) }
    }

    private static func json(_ response: HTTPClientResponse) async throws -> JSONValue {
        let body = try await response.body.collect(upTo: 16 << 20)
        guard response.status.code == 200 else {
            throw HubError(502, "the Cast hub answered \(response.status.code): \(String(buffer: body).prefix(300))")
        }
        guard let json = try? JSONBody.decode(body) else { throw HubError(502, "the Cast hub's answer is not JSON") }
        return json
    }
}

/// The URLs of an external Cast hub.
public enum RemoteHubURL {
    /// `http://h:2018/api/hub/` → `http://h:2018`.
    public static func root(of url: String) -> String {
        var s = url.trimmingCharacters(in: .whitespaces)
        while s.hasSuffix("/") { s.removeLast() }
        if s.hasSuffix("/api/hub") { s.removeLast("/api/hub".count) }
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }

    /// Text as one path segment: everything but letters, digits, `-`, `_` and `~` percent-encoded, dots included, so
    /// that a topic or payload id from an app can neither add segments (`a/b`) nor climb out of its route (`..`).
    public static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: segmentAllowed) ?? ""
    }

    private static let segmentAllowed: CharacterSet = {
        var set = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        set.insert(charactersIn: "-_~")
        return set
    }()

    /// The hub's socket URL on the configured scheme and host: the reference hub builds it from the Host header
    /// and says `wss` for anything that is not "localhost", even when it serves plain ws (§1.1).
    public static func rebase(_ endpoint: String, onto root: String) -> String {
        var path = endpoint
        if let scheme = endpoint.range(of: "://") {
            let afterScheme = endpoint[scheme.upperBound...]
            path = afterScheme.firstIndex(of: "/").map { String(afterScheme[$0...]) } ?? "/"
        }
        if !path.hasPrefix("/") { path = "/bind/" + path }  // a bare endpoint id
        let wsRoot = root.hasPrefix("https://") ? "wss://" + root.dropFirst(8) : "ws://" + root.dropFirst(root.hasPrefix("http://") ? 7 : 0)
        return wsRoot + path
    }
}

/// Form encoding of subscribe and token requests.
enum FormEncoding {
    static let allowed: CharacterSet = {
        var set = CharacterSet.alphanumerics
        set.insert(charactersIn: "-._~")
        return set
    }()

    static func encode(_ fields: [String: String]) -> String {
        fields.sorted { $0.key < $1.key }.map { key, value in
            "\(key.addingPercentEncoding(withAllowedCharacters: allowed) ?? key)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
    }
}

/// A generation B `cast-get` answer in the collated shape of generation D (responses, expected, missing, timedOut).
enum CastGetAnswer {
    static func collated(_ answer: JSONValue, request: CastRequest) -> JSONValue {
        let subscriber = request.targetSubscriber ?? ""
        let response = answer["response"]
        let error = response?["error"]?.stringValue
        let answered = response != nil && error == nil
        var responses: [JSONValue] = []
        if answered, let response {
            responses.append([
                "id": response["id"] ?? .null, "subscriber": .string(subscriber), "actor": response["actor"] ?? .null,
                "productName": response["subscriber.product.name"] ?? .null,
                "data": response["event"]?["context"]?["data"] ?? response,
            ])
        }
        let connected = answer["connected"] ?? false
        var body: [String: JSONValue] = [
            "ok": .bool(answered), "id": .string(request.id), "subscriber.name": .string(request.requester),
            "dataType": .string(request.dataType), "topic": request.topic.map(JSONValue.string) ?? .null,
            "targetExists": answer["exists"] ?? false, "targetConnected": connected,
            "expected": connected == true ? [.string(subscriber)] : [],
            "missing": connected == true && !answered ? [.string(subscriber)] : [],
            "timedOut": .bool(error?.lowercased().contains("timeout") ?? false),
            "responses": .array(responses),
        ]
        if let error { body["error"] = .string(error) }
        return .object(body)
    }
}
