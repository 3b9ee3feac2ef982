import AsyncHTTPClient
import BridgeCore
import CastClient
import CastCore
import FHIRcastCore
import Foundation
import Logging
import NIOCore
import ServiceSupport
import WebSocketTransport

/// An external Cast hub as the bridge's upstream, through `CastHubClient` (tokens, subscribe, publish, requests,
/// payloads) and `CastHubSocket`s. Generation D: one socket subscribed to `*`. Generation B compares topics
/// literally, so there the link starts with no subscription and `follow(topics:)` holds one per topic.
package actor RemoteCastUpstream: CastUpstream {
    package let client: CastHubClient
    package let dialect: CastDialect
    package let maxFrameBytes: Int
    package let logger: Logger

    package nonisolated var label: String { client.root }

    package init(url: String, dialect: CastDialect, auth: CastUpstreamAuth, http: HTTPClient, publishTimeout: Double, maxFrameBytes: Int, logger: Logger) {
        self.client = CastHubClient(url: url, auth: auth, http: http, timeout: TimeAmount(.seconds(publishTimeout)))
        self.dialect = dialect
        self.maxFrameBytes = maxFrameBytes
        self.logger = logger
    }

    // MARK: CastUpstream

    package func connect(events: [String], identity: BridgeIdentity) async throws -> CastLink {
        var fields = Self.subscribeFields(events: events, identity: identity)
        if dialect == .b { return try await connectFollowing(fields) }
        fields["hub.topic"] = "*"
        let url = try await client.subscribe(fields)
        let (frames, frameSink) = AsyncStream<SessionCommand>.makeStream(bufferingPolicy: .bufferingOldest(100_000))
        let socket = try await CastHubSocket.open(url, maxFrameBytes: maxFrameBytes, logger: logger, frames: Self.feeding(frameSink)) {
            frameSink.finish()
        }
        return CastLink(
            frames: frames, send: { frame in socket.send(String(buffer: JSONBody.encode(frame))) }, close: { socket.close() })
    }

    /// A socket's frames into the link's stream; false (the socket ends) when the bridge has fallen that far behind.
    private static func feeding(_ sink: AsyncStream<SessionCommand>.Continuation) -> @Sendable (ByteBuffer) -> Bool {
        { buffer in
            if case .enqueued = sink.yield(.frame(buffer)) { return true }
            return false
        }
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
        try await client.probe()
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
                    let url = try await client.subscribe(fields)
                    let opened = try await CastHubSocket.open(url, maxFrameBytes: maxFrameBytes, logger: logger, frames: Self.feeding(link.frames)) {
                        Task { await self.socketEnded(socket, generation: link.generation) }
                    }
                    guard following?.generation == link.generation else {
                        opened.close()
                        return
                    }
                    following?.sockets[socket] = opened
                    follower.opened(topic, socket: socket)
                    logger.info("bridge subscribed to a topic on the Cast hub", metadata: ["topic": "\(topic)"])
                } catch let error as CastClientError where error.isRefusal {
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
        switch dialect {
        case .d: await client.publish(envelope)
        case .b: await client.publish(envelope, path: "/api/hub/\(RemoteHubURL.segment(topic))")
        }
    }

    package func publishBatch(_ body: ByteBuffer, contentType: String, topic: String) async -> PublishOutcome {
        await client.publishBatch(body, contentType: contentType)
    }

    package func request(_ request: CastRequest) async throws(HubError) -> JSONValue {
        do {
            switch dialect {
            case .d:
                return try await client.request(request.body, timeoutSeconds: request.timeoutSeconds)
            case .b:
                let answer = try await client.castGet(
                    subscriber: request.targetSubscriber ?? "", dataType: request.dataType, topic: request.topic ?? "")
                return CastGetAnswer.collated(answer, request: request)
            }
        } catch {
            throw HubError(502, "the Cast hub could not run the request: \(error)")
        }
    }

    /// `GET /api/hub/payloads/{id}` of the hub, streamed.
    package nonisolated func readPayload(_ id: String, into body: (ByteBuffer) async throws -> Void) async throws {
        guard try await client.readPayload(id, into: body) else { throw PayloadGone(id: id) }
    }
}
