import AsyncHTTPClient
import FHIRcastCore
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix

/// A Cast app's HTTP side of a Cast hub (cast-protocol.md §1–§4, §6): tokens (the mock OAuth code flow or client
/// credentials, refreshed before they expire and once more after a 401), subscribe, publish, binary batches, requests,
/// payload downloads. Its sockets are `CastHubSocket`s, bound to the URLs `subscribe` returns.
public actor CastHubClient {
    /// `http(s)://host:port` with no trailing slash and no `/api/hub`.
    public nonisolated let root: String
    public nonisolated let auth: CastUpstreamAuth
    private let http: HTTPClient
    private let timeout: TimeAmount
    private var token: (value: String, expires: Date)?

    /// - Parameters:
    ///   - url: the hub, with or without `/api/hub`.
    ///   - timeout: for every request but requests (their own timeout plus 10 s) and payload downloads (10 min).
    public init(url: String, auth: CastUpstreamAuth, http: HTTPClient = .shared, timeout: TimeAmount = .seconds(10)) {
        self.root = RemoteHubURL.root(of: url)
        self.auth = auth
        self.http = http
        self.timeout = timeout
    }

    // MARK: Tokens

    /// The bearer token to send: nil without auth; fetched (again when `refresh`, or near its expiry) for the flows.
    public func bearer(refresh: Bool = false) async throws -> String? {
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
        case .none, .bearer: throw CastClientError("no token flow configured")
        case .mockOAuth(let user):
            var form = ["client_product_name": "castbridge"]
            if let user { form["user_name"] = user }
            let code = try await postForm("\(root)/oauth/authorize", form)
            guard let c = code["code"]?.stringValue else { throw CastClientError("the Cast hub's /oauth/authorize returned no code") }
            answer = try await postForm("\(root)/oauth/token", ["grant_type": "authorization_code", "code": c])
        case .clientCredentials(let url, let id, let secret):
            answer = try await postForm(url, ["grant_type": "client_credentials", "client_id": id, "client_secret": secret])
        }
        guard let access = answer["access_token"]?.stringValue else { throw CastClientError("the token endpoint returned no access_token") }
        let lifetime: Double =
            switch answer["expires_in"] {
            case .int(let i)?: Double(i)
            case .double(let d)?: d
            default: 3600
            }
        return (access, lifetime)
    }

    /// A form POST answered with JSON; any other answer throws with its status.
    public func postForm(_ url: String, _ form: [String: String], bearer: String? = nil) async throws -> JSONValue {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        request.body = .bytes(ByteBuffer(string: FormEncoding.encode(form)))
        let response = try await http.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 1 << 20)
        guard (200..<300).contains(Int(response.status.code)) else {
            throw CastClientError("\(url) answered \(response.status.code): \(String(buffer: body).prefix(300))", status: Int(response.status.code))
        }
        guard let json = try? JSONValue.parse(Data(buffer: body)) else { throw CastClientError("\(url) answered with something that is not JSON") }
        return json
    }

    // MARK: Subscriptions

    /// Subscribes (once more with a fresh token after a 401) and returns the socket URL to bind, rebased onto this
    /// client's scheme and host (§1.1: hubs advertise `wss` for any host that is not localhost).
    public func subscribe(_ fields: [String: String]) async throws -> String {
        var answer: JSONValue
        do {
            answer = try await postForm("\(root)/api/hub", fields, bearer: try await bearer())
        } catch let error as CastClientError where error.status == 401 && token != nil {
            answer = try await postForm("\(root)/api/hub", fields, bearer: try await bearer(refresh: true))
        }
        guard let endpoint = answer["hub.channel.endpoint"]?.stringValue, !endpoint.isEmpty else {
            throw CastClientError("the Cast hub's subscribe answer has no hub.channel.endpoint")
        }
        return RemoteHubURL.rebase(endpoint, onto: root)
    }

    /// Whether the hub answers at all (any HTTP answer counts), with a token when one is configured.
    public func probe(path: String = "/api/hub/status") async throws {
        let token = try await bearer()
        var request = HTTPClientRequest(url: root + path)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        _ = try await http.execute(request, timeout: timeout).body.collect(upTo: 1 << 20)
    }

    // MARK: Publishing

    /// Publishes an envelope to `POST {root}{path}` (`/api/hub`, or generation B's `/api/hub/{topic}`); with the mock
    /// OAuth flow, a 401 gets one more try with a fresh token.
    public func publish(_ envelope: JSONValue, path: String = "/api/hub") async -> PublishOutcome {
        let url = root + path
        let token: String?
        do {
            token = try await bearer()
        } catch {
            return .notSent("no token: \(error)")
        }
        let body = ByteBuffer(bytes: envelope.jsonBytes)
        var outcome = await post(url, body: .bytes(body), contentType: "application/json", bearer: token)
        if case .failed(let why) = outcome, why.hasPrefix("401"), case .mockOAuth = auth {
            if let fresh = try? await bearer(refresh: true) { outcome = await post(url, body: .bytes(body), contentType: "application/json", bearer: fresh) }
        }
        return outcome
    }

    /// Publishes a binary batch (§4.1): a `multipart/related` body, envelope first.
    public func publishBatch(_ body: ByteBuffer, contentType: String) async -> PublishOutcome {
        await publishBatch(HTTPClientRequest.Body.bytes(body), contentType: contentType)
    }

    /// Publishes a binary batch streamed from `body` (a file larger than memory), with `timeout` for the whole upload.
    public func publishBatch(_ body: HTTPClientRequest.Body, contentType: String, timeout: TimeAmount? = nil) async -> PublishOutcome {
        let token: String?
        do {
            token = try await bearer()
        } catch {
            return .notSent("no token: \(error)")
        }
        return await post("\(root)/api/hub", body: body, contentType: contentType, bearer: token, timeout: timeout)
    }

    private func post(
        _ url: String, body: HTTPClientRequest.Body, contentType: String, bearer: String?, timeout: TimeAmount? = nil
    ) async -> PublishOutcome {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        request.body = body
        do {
            let response = try await http.execute(request, timeout: timeout ?? self.timeout)
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
    public static func isConnectFailure(_ error: any Error) -> Bool {
        if error is NIOConnectionError { return true }
        if let e = error as? HTTPClientError, e == .connectTimeout { return true }
        if let e = error as? IOError, [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH].contains(e.errnoCode) { return true }
        if case ChannelError.connectTimeout = error { return true }
        return false
    }

    // MARK: Requests and payloads

    /// `POST /api/hub/request` (§3.1): the collated answer, waited for up to `timeoutSeconds` plus 10 s.
    public func request(_ body: JSONValue, timeoutSeconds: Double) async throws -> JSONValue {
        var request = HTTPClientRequest(url: "\(root)/api/hub/request")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token = try await bearer() { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(bytes: body.jsonBytes))
        return try await Self.json(http.execute(request, timeout: .seconds(Int64(timeoutSeconds.rounded(.up)) + 10)))
    }

    /// Generation B's `GET /api/hub/cast-get?subscriber&dataType&topic` (§3.3): the hub's answer as it is.
    public func castGet(subscriber: String, dataType: String, topic: String) async throws -> JSONValue {
        var components = URLComponents(string: "\(root)/api/hub/cast-get")
        components?.queryItems = [
            URLQueryItem(name: "subscriber", value: subscriber), URLQueryItem(name: "dataType", value: dataType),
            URLQueryItem(name: "topic", value: topic),
        ]
        guard let url = components?.string else { throw CastClientError("could not build the cast-get URL") }
        var request = HTTPClientRequest(url: url)
        if let token = try await bearer() { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        return try await Self.json(http.execute(request, timeout: .seconds(30)))
    }

    /// `GET /api/hub/payloads/{id}`, streamed piece by piece; nil when the hub does not have it (unknown or expired).
    public nonisolated func readPayload(_ id: String, into body: (ByteBuffer) async throws -> Void) async throws -> Bool {
        var request = HTTPClientRequest(url: "\(root)/api/hub/payloads/\(RemoteHubURL.segment(id))")
        // The reference serves payloads without a token; a hub that asks for one gets it.
        if let token = try await bearer() { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await http.execute(request, timeout: .seconds(600))
        guard response.status == .ok else { return false }
        for try await piece in response.body { try await body(piece) }
        return true
    }

    private static func json(_ response: HTTPClientResponse) async throws -> JSONValue {
        let body = try await response.body.collect(upTo: 16 << 20)
        guard response.status.code == 200 else {
            throw CastClientError("the Cast hub answered \(response.status.code): \(String(buffer: body).prefix(300))", status: Int(response.status.code))
        }
        guard let json = try? JSONValue.parse(Data(buffer: body)) else { throw CastClientError("the Cast hub's answer is not JSON") }
        return json
    }
}
