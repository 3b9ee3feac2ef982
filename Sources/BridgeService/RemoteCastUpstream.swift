import FHIRcastService
import ServiceSupport
import WebSocketTransport
import AsyncHTTPClient
import BridgeCore
import CastCore
import FHIRcastCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// An external Cast hub (cast-protocol.md §1): subscribe over HTTP, bind the returned socket (rebased onto the
/// configured hub's scheme and host, §1.1), publish and request over HTTP, with a bearer token when configured.
package actor RemoteCastUpstream: CastUpstream {
    /// `http(s)://host:port` with no trailing slash and no `/api/hub`.
    package let root: String
    package let dialect: CastDialect
    package let auth: CastUpstreamAuth
    package let http: HTTPClient
    package let publishTimeout: TimeAmount
    package let maxFrameBytes: Int
    package let logger: Logger
    private var token: (value: String, expires: Date)?

    package nonisolated var label: String { root }

    package init(url: String, dialect: CastDialect, auth: CastUpstreamAuth, http: HTTPClient, publishTimeout: Double, maxFrameBytes: Int, logger: Logger) {
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
        /// The HTTP status, when the hub answered.
        var status: Int?

        /// A refusal of this one subscription; a token refused, or a hub unwilling for now, ends the link instead.
        var refusesTopic: Bool {
            guard let status else { return false }
            return (400..<500).contains(status) && ![401, 403, 408, 429].contains(status)
        }
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
            throw UpstreamError(
                description: "\(url) answered \(response.status.code): \(String(buffer: body).prefix(300))", status: Int(response.status.code))
        }
        guard let json = try? JSONBody.decode(body) else {
            throw UpstreamError(description: "\(url) answered with something that is not JSON")
        }
        return json
    }

    // MARK: CastUpstream

    /// Generation D: one socket, subscribed to `*`. Generation B compares topics literally, so there the link starts
    /// with no subscription, and `follow(topics:)` holds one per topic that exists for FHIRcast apps.
    package func connect(events: [String], identity: BridgeIdentity) async throws -> CastLink {
        var fields = Self.subscribeFields(events: events, identity: identity)
        if dialect == .b { return try await connectFollowing(fields) }
        fields["hub.topic"] = "*"
        let url = try await subscribe(fields)
        let (frames, frameSink) = AsyncStream<SessionCommand>.makeStream(bufferingPolicy: .bufferingOldest(100_000))
        let socket = try await CastHubSocket.open(url, maxFrameBytes: maxFrameBytes, logger: logger, frames: frameSink) {
            frameSink.finish()
        }
        return CastLink(
            frames: frames, send: { frame in socket.send(String(buffer: JSONBody.encode(frame))) }, close: { socket.close() })
    }

    /// Subscribes (once more with a fresh token after a 401) and returns the socket URL to bind, rebased (§1.1).
    private func subscribe(_ fields: [String: String]) async throws -> String {
        var answer: JSONValue
        do {
            answer = try await postForm("\(root)/api/hub", fields, bearer: try await bearer())
        } catch let error as UpstreamError where error.status == 401 && token != nil {
            answer = try await postForm("\(root)/api/hub", fields, bearer: try await bearer(refresh: true))
        }
        guard let endpoint = answer["hub.channel.endpoint"]?.stringValue, !endpoint.isEmpty else {
            throw UpstreamError(description: "the Cast hub's subscribe answer has no hub.channel.endpoint")
        }
        return RemoteHubURL.rebase(endpoint, onto: root)
    }

    // MARK: Generation B: one subscription per topic

    /// The sockets of the current generation B link, one per followed topic, all feeding its one frame stream.
    private struct FollowingLink {
        let generation: Int
        let frames: AsyncStream<SessionCommand>.Continuation
        let fields: [String: String]
        var sockets: [Int: CastHubSocket] = [:]
    }
    private var following: FollowingLink?
    private var follower = TopicFollower()
    private var linkGenerations = 0
    private var followLoopRunning = false

    /// A link with no subscription yet. The hub is asked for its status first, so that one that cannot be reached (or
    /// a token that cannot be had) fails the connect as with generation D, instead of a link that holds nothing.
    private func connectFollowing(_ fields: [String: String]) async throws -> CastLink {
        let token = try await bearer()
        var probe = HTTPClientRequest(url: "\(root)/api/hub/status")
        if let token { probe.headers.add(name: "Authorization", value: "Bearer \(token)") }
        _ = try await http.execute(probe, timeout: publishTimeout).body.collect(upTo: 1 << 20)
        if let old = following { end(old.generation, why: nil) }
        linkGenerations += 1
        let generation = linkGenerations
        let (frames, frameSink) = AsyncStream<SessionCommand>.makeStream(bufferingPolicy: .bufferingOldest(100_000))
        following = FollowingLink(generation: generation, frames: frameSink, fields: fields)
        follower.reset()
        return CastLink(
            frames: frames,
            send: { frame in await self.send(frame, on: generation) },
            close: { await self.end(generation, why: nil) })
    }

    package func follow(topics: Set<String>) async {
        guard dialect == .b else { return }
        follower.want(topics)
        // One loop at a time; a running one picks up the new set at its next step.
        guard !followLoopRunning else { return }
        followLoopRunning = true
        defer { followLoopRunning = false }
        while let link = following {
            switch follower.next() {
            case .idle:
                return
            case .close(let topic, let socket):
                following?.sockets.removeValue(forKey: socket)?.close()
                logger.info("bridge left a topic on the Cast hub", metadata: ["topic": "\(topic)"])
            case .open(let topic, let socket):
                var fields = link.fields
                fields["hub.topic"] = topic
                do {
                    let url = try await subscribe(fields)
                    let opened = try await CastHubSocket.open(url, maxFrameBytes: maxFrameBytes, logger: logger, frames: link.frames) {
                        Task { await self.socketEnded(socket, generation: link.generation) }
                    }
                    guard following?.generation == link.generation else {
                        opened.close()
                        return
                    }
                    following?.sockets[socket] = opened
                    follower.opened(topic, socket: socket)
                    logger.info("bridge subscribed to a topic on the Cast hub", metadata: ["topic": "\(topic)"])
                } catch let error as UpstreamError where error.refusesTopic {
                    follower.refused(topic)
                    logger.warning("the Cast hub refused the bridge's subscription to a topic", metadata: ["topic": "\(topic)", "error": "\(error)"])
                } catch {
                    end(link.generation, why: "subscribing to topic '\(topic)': \(error)")
                    return
                }
            }
        }
    }

    /// A `*-response` goes out on the socket of its topic, else on any.
    private func send(_ frame: JSONValue, on generation: Int) -> Bool {
        guard let link = following, link.generation == generation else { return false }
        let socket = frame["event"]?["hub.topic"]?.stringValue.flatMap { follower.held[$0] }.flatMap { link.sockets[$0] }
        guard let socket = socket ?? link.sockets.values.first else { return false }
        return socket.send(String(buffer: JSONBody.encode(frame)))
    }

    private func socketEnded(_ socket: Int, generation: Int) {
        guard following?.generation == generation, follower.ended(socket: socket) else { return }
        end(generation, why: "a topic's socket closed")
    }

    /// Ends a link: its sockets close (the hub drops their subscriptions) and its frame stream finishes, so the
    /// bridge connects again and every topic is followed anew.
    private func end(_ generation: Int, why: String?) {
        guard let link = following, link.generation == generation else { return }
        following = nil
        follower.reset()
        if let why { logger.warning("the Cast hub link ends", metadata: ["reason": "\(why)"]) }
        for socket in link.sockets.values { socket.close() }
        link.frames.finish()
    }

    package func publish(_ envelope: JSONValue, topic: String) async -> PublishOutcome {
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

    package func publishBatch(_ body: ByteBuffer, contentType: String, topic: String) async -> PublishOutcome {
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
    package static func isConnectFailure(_ error: any Error) -> Bool {
        if error is NIOConnectionError { return true }
        if let e = error as? HTTPClientError, e == .connectTimeout { return true }
        if let e = error as? IOError, [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH].contains(e.errnoCode) { return true }
        if case ChannelError.connectTimeout = error { return true }
        return false
    }

    package func request(_ request: CastRequest) async throws(HubError) -> JSONValue {
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
    package nonisolated func readPayload(_ id: String, into body: (ByteBuffer) async throws -> Void) async throws {
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
