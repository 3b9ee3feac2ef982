import ServiceSupport
import WebSocketTransport
import AsyncHTTPClient
import CastCore
import FHIRcastCore
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// The embedded Cast hub as a running service: the pure `CastHubState` plus the bound sockets and the HTTP
/// requests waiting for `*-response` frames.
package actor CastHub: Service {
    var state: CastHubState
    private var sockets: [String: WebSocketSink] = [:]
    private var waits = RequestWaits<CheckedContinuation<Void, Never>>()
    var oauth: MockOAuthState
    var tokens: CastTokens?
    let config: CastServiceConfiguration
    var telemetry: Telemetry { config.edge.telemetry }
    /// While a publish is delivered on the node that took it: when it reached the hub
    /// (`castbridge_delivery_latency_seconds`).
    private var publishStarted: ContinuousClock.Instant?
    let logger: Logger
    private let webSub: CastWebSubClient
    private let jobs: AsyncStream<@Sendable () async -> Void>
    private let jobContinuation: AsyncStream<@Sendable () async -> Void>.Continuation
    /// What outlives a restart, and the other nodes of a cluster (`CastHub+Cluster`).
    let store: any CastHubStore
    /// Messages told to the cluster without waiting (a socket's end, a request's frames), in order, by one task.
    let outgoing: AsyncStream<CastClusterMessage>
    let outgoingSink: AsyncStream<CastClusterMessage>.Continuation
    /// Set once the store's records are back: no request is served before.
    var restored = false
    var restoring: Task<Result<CastRecords, any Error>, Never>?

    public init(config: CastServiceConfiguration, logger: Logger, store: any CastHubStore = VolatileCastStore()) {
        self.webSub = CastWebSubClient(pins: CallbackPins(policy: config.callbackPolicy), logger: logger)
        self.store = store
        (outgoing, outgoingSink) = AsyncStream<CastClusterMessage>.makeStream(bufferingPolicy: .bufferingOldest(100_000))
        (self.jobs, self.jobContinuation) = AsyncStream<@Sendable () async -> Void>.makeStream(
            bufferingPolicy: .bufferingOldest(10_000))
        self.state = CastHubState(matching: config.castEventMatching)
        self.oauth = MockOAuthState(singleUserMode: config.castSingleUser)
        self.config = config
        self.logger = logger
    }

    // MARK: Payloads (§4.1)

    private var payloads: PayloadStore?

    /// The payload store, made on first use in a new temporary directory.
    package func payloadStore() async throws(CastError) -> PayloadStore {
        if let payloads { return payloads }
        do {
            let shared = store.spansNodes ? store as? any SharedPayloads : nil
            let store = try await PayloadStore.temporary(config: config, logger: logger, shared: shared)
            if let payloads { return payloads }  // made meanwhile by another upload
            payloads = store
            return store
        } catch {
            throw CastError(500, "the payload store could not be created")
        }
    }

    private func reapPayloads() async {
        await payloads?.reap()
    }

    // MARK: Subscriptions

    /// Subscribes. A WebSub subscriber is verified first, as on the reference: GET
    /// `callback?hub.challenge=<secret>&hub.topic=<topic>` must answer 200 with the secret (§1.1).
    /// `nodeLocal`: the bridge's own subscription, which other nodes of a cluster never see.
    package func subscribe(_ fields: CastFields, owner: String? = nil, nodeLocal: Bool = false) async throws(CastError) -> CastSubscription {
        try await ready()
        var sub = try CastSubscription.parse(fields, endpoint: UUID().uuidString.lowercased())
        sub.owner = owner
        sub.nodeLocal = nodeLocal
        try state.checkCaps(sub)
        if !sub.isWebSocket {
            if let callback = sub.callback, !callback.isEmpty, let problem = OutboundURL.problem(callback) {
                throw CastError(400, "WebSub verification failed: hub.callback \(problem)")
            }
            if let callback = sub.callback, !callback.isEmpty, case .failure(let refusal) = await webSub.pins.client(for: callback) {
                throw CastError(400, "WebSub verification failed: \(refusal)")
            }
            guard let callback = sub.callback, !callback.isEmpty, let secret = sub.secret, !secret.isEmpty,
                await webSub.verify(callback: callback, secret: secret, topic: sub.topic)
            else {
                throw CastError(400, "WebSub verification failed")
            }
        }
        try state.checkCaps(sub)  // again: the verification above let other subscriptions in
        state.add(sub)
        if !nodeLocal {
            do {
                try await tell(.subscribed(sub))
            } catch {
                _ = state.unbind(sub.endpoint)
                throw error
            }
        }
        return sub
    }

    /// Whether a Cast app subscribes to exactly this topic. Subscriptions to `*` (the bridge's own, monitors) do not
    /// make every topic exist for FHIRcast (Docs/conformance.md, "Topics").
    package func hasListeners(onTopic topic: String) async -> Bool {
        _ = try? await ready()
        return state.allSubscriptions.contains { $0.topic == topic }
    }

    /// Unsubscribe (POST or DELETE): the removed subscriptions' sockets are closed (on whichever node holds them) and
    /// peers told. A store that cannot keep the removal gives a 503, and the subscriptions stay.
    package func unsubscribe(endpoint: String?, callback: String?, topic: String?) async throws(CastError) -> Int {
        try await ready()
        let removed = state.unsubscribe(endpoint: endpoint, callback: callback, topic: topic)
        let shared = removed.filter { !$0.nodeLocal }
        if !shared.isEmpty {
            do {
                try await tell(.removed(endpoints: shared.map(\.endpoint)))
            } catch {
                for sub in removed { state.add(sub) }
                throw error
            }
        }
        for sub in removed { dropped(sub, reason: "unsubscribe") }
        return removed.count
    }

    /// DELETE with an empty body: everything goes, every socket is closed, on every node.
    package func clear() async throws(CastError) {
        try await ready()
        try await tell(.cleared)
        for sub in state.clear() {
            sockets.removeValue(forKey: sub.endpoint)?.end()
        }
        for (_, sink) in sockets { _ = sink.shutdown() }
        sockets.removeAll()
    }

    public var subscriptionCount: Int { state.subscriptionCount }

    // MARK: Publish

    /// In a cluster the envelope is delivered when the cluster carries it back, here as on every node, so that every
    /// subscriber of a topic sees its events in one order; it is answered once the cluster has it.
    package func publish(_ body: JSONValue, host: String?, pathTopic: String? = nil) async throws(CastError) {
        do throws(CastError) {
            try await take(body, host: host, pathTopic: pathTopic)
            telemetry.castPublishes.success.add()
        } catch {
            telemetry.castPublishes.failure.add()
            throw error
        }
    }

    private func take(_ body: JSONValue, host: String?, pathTopic: String?) async throws(CastError) {
        let start = ContinuousClock.now
        // Taken and then delivered to nobody would be a silent loss: a hub that is stopping says so.
        guard !isShuttingDown else { throw CastError(503, "the hub is shutting down") }
        try await ready()
        let forwarded = try state.accept(body, host: host, pathTopic: pathTopic)
        guard store.spansNodes else {
            publishStarted = start
            defer { publishStarted = nil }
            return deliver(state.route(forwarded, fromThisNode: true))
        }
        try await tell(.published(.object(forwarded)))
    }

    // MARK: Generation B (§1.5, §3.3)

    package func lastContext(of topic: String) async -> JSONValue {
        _ = try? await ready()
        return state.lastContext(of: topic)
    }

    /// `GET /api/hub/cast-get`: one `get-request` to the named subscriber, its `get-response` or a timeout.
    package func castGet(subscriber: String, dataType: String, topic: String?, actor: JSONValue?, timeout: Duration) async -> JSONValue {
        _ = try? await ready()
        let requestId = UUID().uuidString.lowercased()
        let (pending, frame) = state.startGet(
            subscriber: subscriber, dataType: dataType, topic: topic, actor: actor, requestId: requestId,
            id: UUID().uuidString.lowercased(), timestamp: CastTime.now())
        guard let frame else {
            telemetry.castRequestsUnanswerable.add()
            return pending.reply()
        }
        sendOrPass(frame)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForCompletion(requestId) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            self.stopWaiting(requestId)
            group.cancelAll()
        }
        waits.forget(requestId)
        (state.isAnswered(get: requestId) ? telemetry.castRequestsAnswered : telemetry.castRequestsTimedOut).add()
        return (state.finishGet(requestId) ?? pending).reply()
    }

    func deliver(_ delivery: CastHubState.Delivery) {
        guard !delivery.endpoints.isEmpty || !delivery.webSub.isEmpty else { return }
        let buffer = JSONBody.encode(delivery.envelope)
        let message = TextMessage(buffer)
        var batch = WriteBatch()
        var sent = 0
        for endpoint in delivery.endpoints where send(message, to: endpoint, batch: &batch) { sent += 1 }
        batch.submit()
        telemetry.castDeliveries.success.add(sent + delivery.webSub.count)
        if let publishStarted { telemetry.castDeliveryLatency.record(since: publishStarted) }
        for sub in delivery.webSub {
            guard let callback = sub.callback else { continue }
            let client = self.webSub
            let secret = sub.secret ?? ""
            // One signed POST, no retries (§1.1); each in its own task, so a slow callback delays nobody.
            jobContinuation.yield { await client.post(buffer, callback: callback, secret: secret) }
        }
    }

    func send(_ buffer: ByteBuffer, to endpoint: String) {
        var batch = WriteBatch()
        send(TextMessage(buffer), to: endpoint, batch: &batch)
        batch.submit()
    }

    /// Whether the message was queued for the endpoint's socket.
    @discardableResult
    private func send(_ message: TextMessage, to endpoint: String, batch: inout WriteBatch) -> Bool {
        guard let sink = sockets[endpoint] else { return false }
        if !sink.enqueue(message, into: &batch) {
            telemetry.castDeliveries.failure.add()
            // A peer that cannot keep up is removed, as on a failed send.
            logger.warning("dropping a Cast subscriber whose send buffer overflowed")
            sockets.removeValue(forKey: endpoint)?.abort()
            if let sub = state.unbind(endpoint) {
                if !sub.nodeLocal { pass(.removed(endpoints: [endpoint])) }
                announceRemoval(sub, reason: "send-failure")
            }
            return false
        }
        return true
    }

    func hasSocket(_ endpoint: String) -> Bool { sockets[endpoint] != nil }

    /// Frames handed to an endpoint's socket here and not yet taken; nil without one.
    func queued(_ endpoint: String) -> Int? { sockets[endpoint]?.queued }

    /// Bytes of binary payloads this node holds.
    package func payloadBytes() async -> Int { await payloads?.heldBytes ?? 0 }

    /// Another node removed the subscription: its socket here, if any, is closed (that node told its peers).
    func closeSocket(_ endpoint: String) {
        sockets.removeValue(forKey: endpoint)?.end()
    }

    /// Another node cleared or reset the hub: every socket here is closed, every wait ends.
    func closeEverySocket() {
        for (_, sink) in sockets { sink.end() }
        sockets.removeAll()
        for waiter in waits.finishAll() { waiter.resume() }
    }

    private func dropped(_ sub: CastSubscription, reason: String) {
        sockets.removeValue(forKey: sub.endpoint)?.end()
        announceRemoval(sub, reason: reason)
    }

    private func announceRemoval(_ sub: CastSubscription, reason: String) {
        let notice = state.removalNotice(sub, reason: reason, id: UUID().uuidString.lowercased(), timestamp: CastTime.now())
        // In a cluster every node delivers it when heard (the bridge's own subscription is this node's alone).
        guard store.spansNodes, !sub.nodeLocal else { return deliver(notice) }
        pass(.removalNotice(notice.envelope))
    }

    // MARK: Conferences

    package func createConference(_ body: [String: JSONValue]) async throws(CastError) -> JSONValue {
        try await ready()
        let conference = try CastConference.parse(body)
        let (id, timestamp) = (UUID().uuidString.lowercased(), CastTime.now())
        try await tell(.conferenceCreated(conference, id: id, timestamp: timestamp))
        let (reply, delivery) = state.createConference(conference, id: id, timestamp: timestamp)
        deliver(delivery)
        return reply
    }

    package func endConference(_ body: [String: JSONValue]) async throws(CastError) -> JSONValue {
        try await ready()
        let (id, timestamp) = (UUID().uuidString.lowercased(), CastTime.now())
        var probe = state
        _ = try probe.endConference(body, id: id, timestamp: timestamp)  // a bad request is refused before it is told
        try await tell(.conferenceEnded(body: body, id: id, timestamp: timestamp))
        let (reply, delivery) = try state.endConference(body, id: id, timestamp: timestamp)
        if let delivery { deliver(delivery) }
        return reply
    }

    package func conferences() async -> JSONValue {
        _ = try? await ready()
        return state.conferenceList()
    }

    package func conferenceTopics() async -> JSONValue {
        _ = try? await ready()
        return state.conferenceTopics()
    }

    // MARK: Admin

    /// The admin snapshot: subscriptions and conferences; secrets are never included.
    package func snapshot() async -> JSONValue {
        _ = try? await ready()
        return state.adminSnapshot(ref: ConsoleRef.of, connected: { sockets[$0] != nil })
    }

    /// Admin reset: every subscription, conference and pending request dropped, every socket closed; the
    /// single-user mode set as asked.
    package func reset(singleUserMode: Bool) async throws(CastError) {
        try await ready()
        try await tell(.reset(singleUser: singleUserMode))
        oauth.singleUserMode = singleUserMode
        state.reset()
        for (_, sink) in sockets { sink.end() }
        sockets.removeAll()
        for waiter in waits.finishAll() { waiter.resume() }
    }

    // MARK: Sockets

    /// A socket opened `/bind/{endpoint}`: the first frame is `connection.established` (§1.3).
    package func bind(_ endpoint: String, sink: WebSocketSink) async {
        // A socket that connects while the hub stops, or before its state is back, gets 1001 at once.
        guard !isShuttingDown, (try? await ready()) != nil else {
            _ = sink.shutdown()
            return
        }
        await adoptIfElsewhere(endpoint)
        if let sub = state.bind(endpoint), !sub.nodeLocal, store.spansNodes { pass(.bound(endpoint: endpoint)) }
        sockets[endpoint]?.abort()
        sockets[endpoint] = sink
        _ = sink.send(
            JSONBody.encode(["type": "connection.established", "endpoint": .string(endpoint), "timestamp": .string(CastTime.now())]))
    }

    /// A socket ended: its subscription is removed and peers get `subscription-removed`.
    package func unbind(_ endpoint: String, sink: WebSocketSink) {
        // Only the socket that is still registered may remove the subscription.
        guard let current = sockets[endpoint], current.token === sink.token else { return }
        sockets.removeValue(forKey: endpoint)
        if let sub = state.unbind(endpoint) {
            if !sub.nodeLocal { pass(.removed(endpoints: [endpoint])) }
            announceRemoval(sub, reason: "websocket-disconnect")
        }
    }

    /// A text frame from a bound socket: a `*-response` completes a request; everything else is ignored.
    package func received(_ frame: JSONValue, from endpoint: String) {
        // An answer to a request another node waits for goes to the cluster.
        if store.spansNodes, CastHubState.isResponse(frame), !state.awaitsResponse(frame) {
            return pass(.response(endpoint: endpoint, frame: frame))
        }
        answered(frame, from: endpoint)
    }

    /// A `*-response` for a request this node waits for, from a socket here or another node's.
    func answered(_ frame: JSONValue, from endpoint: String) {
        if let requestId = state.receivedGetResponse(frame) {
            waits.finish(requestId)?.resume()
            return
        }
        guard let id = state.received(frame, from: endpoint), state.isComplete(id) else { return }
        waits.finish(id)?.resume()
    }

    // MARK: Requests

    /// Runs a request: fans it out, waits until every expected responder answered or the timeout, collates.
    package func request(_ request: CastRequest) async -> JSONValue {
        _ = try? await ready()
        let (pending, frames) = state.startRequest(request, id: UUID().uuidString.lowercased(), timestamp: CastTime.now())
        guard !frames.isEmpty else {
            telemetry.castRequestsUnanswerable.add()
            return pending.collated(timedOut: false)
        }
        for f in frames { sendOrPass(f) }
        let id = request.id
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForCompletion(id) }
            group.addTask { try? await Task.sleep(for: .milliseconds(Int64(request.timeoutSeconds * 1000))) }
            await group.next()
            self.stopWaiting(id)
            group.cancelAll()
        }
        waits.forget(id)
        let timedOut = !state.isComplete(id)
        (timedOut ? telemetry.castRequestsTimedOut : telemetry.castRequestsAnswered).add()
        return state.finishRequest(id, timedOut: timedOut) ?? pending.collated(timedOut: true)
    }

    private func waitForCompletion(_ id: String) async {
        let complete = (state.pending[id] != nil && state.isComplete(id)) || state.isAnswered(get: id)
        await withCheckedContinuation { continuation in
            if !waits.wait(id, as: continuation, complete: complete) { continuation.resume() }
        }
    }

    private func stopWaiting(_ id: String) {
        waits.finish(id)?.resume()
    }

    /// Runs the WebSub deliveries as child tasks until graceful shutdown, then closes every socket with 1001.
    public func run() async throws {
        let jobs = self.jobs
        await withDiscardingTaskGroup { group in
            group.addTask {
                try? await gracefulShutdown()
                await WebSocketSink.waitForCloses(await self.shutdown())
            }
            // The payload reaper: every min(30 s, TTL/4).
            let period = Duration.milliseconds(Int64(1000 * max(0.05, min(30, config.castPayloadTTLSeconds / 4))))
            group.addTask {
                while await !self.isShuttingDown {
                    do { try await Task.sleep(for: period) } catch { return }
                    await self.reapPayloads()
                }
            }
            group.addTask { await self.followCluster() }
            group.addTask { await self.passOn() }
            for await job in jobs { group.addTask { await job() } }
            // Shutdown finished the job stream: stop the reaper and whatever else is still running.
            group.cancelAll()
        }
        await webSub.pins.shutdown()
    }

    /// Shutdown: every socket closed with 1001.
    private var isShuttingDown = false

    /// Returns the close frames being written.
    package func shutdown() async -> [EventLoopFuture<Void>] {
        isShuttingDown = true
        await payloads?.removeAll()
        jobContinuation.finish()
        outgoingSink.finish()
        defer { sockets.removeAll() }
        return sockets.values.compactMap { $0.shutdown() }
    }
}

/// Timestamps the reference hub generates: ISO 8601 without a zone, microseconds (Python's `isoformat()`).
package enum CastTime {
    package static func now() -> String {
        let s = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))  // …ss.SSSZ
        return String(s.dropLast()) + "000"
    }
}
