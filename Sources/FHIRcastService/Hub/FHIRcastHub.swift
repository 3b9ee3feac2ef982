import ServiceSupport
import WebSocketTransport
import AsyncHTTPClient
import FHIRcastCore
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// The FHIRcast hub as a running service: the pure `HubState` plus the live channels (sinks) of its
/// subscribers. Every state change goes through here, one at a time; its effects are carried out at once,
/// without waiting on any subscriber (each sink queues).
package actor FHIRcastHub: Service, WebhookOutcomes {
    package typealias Job = @Sendable () async -> Void

    var state: HubState
    private struct SinkEntry {
        var sink: any DeliverySink
        var flavor: Flavor
    }
    private var sinks: [SubscriptionID: SinkEntry] = [:]
    let config: FHIRcastServiceConfiguration
    var telemetry: Telemetry { config.edge.telemetry }
    let logger: Logger
    private let webhooks: WebhookClient
    /// Where webhook callbacks may point, checked on the address resolved once (the routes check a new subscription).
    package nonisolated var callbackPins: CallbackPins { webhooks.pins }
    private let jobs: AsyncStream<Job>
    private let jobContinuation: AsyncStream<Job>.Continuation
    private let shutdownDeadline = ShutdownDeadline()
    var shuttingDown = false
    /// While a publish is carried out: when it reached the hub (`castbridge_delivery_latency_seconds`).
    var publishStarted: ContinuousClock.Instant?
    /// Accepted events go here on their way to Cast (nil: the bridge is off).
    private let outlet: (any EventOutlet)?
    /// Whether the outlet wants the topics that exist (read once: `perform` checks it on every publish).
    private let reportsTopics: Bool
    /// The `knownTopicsGeneration` last reported to the bridge.
    private var reportedTopics = 0
    /// ACK frames taken on the sockets' event loops.
    package nonisolated let acks = AckInbox()

    /// Topics of the Cast side (with the bridge on): whether Cast apps listen on a topic. Nil: none are known.
    private let castTopics: (@Sendable (String) async -> Bool)?

    /// Where topic contexts and webhook subscriptions are kept; `keepsState` is read once.
    let store: any HubStore
    let keepsState: Bool
    /// Whether a change's effects wait until it is written (`HubStore.deliversAfterWrite`); read once.
    let deliversAfterWrite: Bool
    /// Changes waiting for the store, in order, each batch with the effects that wait for it (`StoreBatch`).
    var unwritten: [StoreBatch] = []
    /// Whether the writer is running (it runs while `unwritten` is not empty).
    var writing = false
    /// The id of the batch the last `perform` made (0: its effects were carried out at once).
    var lastBatch = 0
    var batchCount = 0
    /// Batches queued and not yet written (or failed), and the requests waiting on them.
    var openBatches: Set<Int> = []
    var batchWaiters: [Int: [CheckedContinuation<HubError?, Never>]] = [:]
    /// In a cluster, events that came before an earlier one of their topic, by topic and number: delivered once the
    /// earlier ones are (`deliverInOrder`). Topics whose missing events are being read from the store.
    var held: [String: [Int64: [HubEffect]]] = [:]
    var filling: Set<String> = []
    /// In a cluster, the number of the last event of each topic this node's subscribers got: an event heard again
    /// (a notice read twice after the listening connection came back) is not delivered twice.
    var delivered: [String: Int64] = [:]
    /// What the store holds, as far as this hub knows: loaded at start, then every written batch. A batch the store
    /// refuses is reverted to it.
    var durable = HubRecords()
    /// Whether the store's records have been taken back (requests wait for it; at once without a store).
    var restored: Bool
    var restoreWaiters: [CheckedContinuation<Void, Never>] = []
    /// The other nodes of a cluster; `spansNodes` is read once.
    let fanOut: any TopicFanOut
    let sharesEvents: Bool

    package init(
        config: FHIRcastServiceConfiguration, logger: Logger, http: HTTPClient = .shared, outlet: (any EventOutlet)? = nil,
        castTopics: (@Sendable (String) async -> Bool)? = nil, store: any HubStore = VolatileHubStore(),
        fanOut: any TopicFanOut = SingleNode()
    ) {
        self.store = store
        self.keepsState = store.keepsState
        self.deliversAfterWrite = store.deliversAfterWrite
        self.restored = !store.keepsState
        self.fanOut = fanOut
        self.sharesEvents = fanOut.spansNodes
        self.castTopics = castTopics
        self.outlet = outlet
        self.reportsTopics = outlet?.followsTopics ?? false
        self.config = config
        self.logger = logger
        self.state = HubState(config: config.hub)
        self.state.tracksChanges = store.keepsState
        self.state.tracksSocketSubscriptions = store.keepsState && fanOut.sharesThroughStore
        self.state.sharesSyncErrors = fanOut.spansNodes
        self.webhooks = WebhookClient(
            pins: CallbackPins(policy: config.callbackPolicy, shared: http), timeout: TimeAmount(.seconds(config.webhookTimeoutSeconds)),
            logger: logger)
        (self.jobs, self.jobContinuation) = AsyncStream<Job>.makeStream()
    }

    // MARK: Service

    /// Runs the timers and the background work (webhook workers, verifications) as child tasks, until shutdown.
    package func run() async throws {
        let jobs = self.jobs
        if keepsState { try await restore() }
        await withDiscardingTaskGroup { group in
            if sharesEvents {
                let fanOut = self.fanOut
                group.addTask {
                    for await event in fanOut.received() { await self.replicated(event) }
                }
                group.addTask {
                    for await handover in fanOut.takenOver() { await self.takeOver(handover) }
                }
                group.addTask {
                    for await syncError in fanOut.syncErrors() { await self.perform(self.state.relaySyncError(syncError)) }
                }
                group.addTask {
                    for await id in fanOut.unsubscribes() { await self.unsubscribedElsewhere(id) }
                }
            }
            group.addTask { await self.tickLoop() }
            group.addTask {
                for await _ in self.acks.wakes {
                    // ACKs are gathered for a moment before the hub takes them: at 1,000 subscribers they arrive
                    // spread over the fan-out, and a hub woken for each one spends a thread wake-up per ACK.
                    try? await Task.sleep(for: AckInbox.gather)
                    await self.drainAcks()
                }
            }
            group.addTask {
                do {
                    try await gracefulShutdown()
                    await WebSocketSink.waitForCloses(await self.beginShutdown())
                } catch {
                    // Cancelled: the group is going away anyway.
                }
            }
            for await job in jobs {
                group.addTask { await job() }
            }
            group.cancelAll()
        }
        await webhooks.pins.shutdown()
        if keepsState {
            await untilWritten()
            await store.close()
        }
    }

    private func tickLoop() async {
        let interval = Duration.seconds(config.tickIntervalSeconds)
        while !shuttingDown {
            do { try await Task.sleep(for: interval) } catch { return }
            // ACKs that arrived are counted before deadlines are judged, even if their drain has not run yet.
            drainAcks()
            perform(state.expire(now: Date()))
        }
    }

    /// Graceful shutdown: websockets closed with 1001, webhook work finished or abandoned within the grace period.
    /// Returns the close frames being written.
    package func beginShutdown() -> [EventLoopFuture<Void>] {
        guard !shuttingDown else { return [] }
        shuttingDown = true
        shutdownDeadline.start(grace: .seconds(config.shutdownGraceSeconds))
        logger.info("castbridge hub shutting down", metadata: ["subscribers": "\(sinks.count)"])
        let closes = sinks.values.compactMap { $0.sink.shutdown() }
        sinks.removeAll()
        _ = state.removeAll()
        endRestoreWait()
        jobContinuation.finish()
        acks.finish()
        return closes
    }

    func submit(_ job: @escaping Job) {
        jobContinuation.yield(job)
    }

    // MARK: Requests from the HTTP routes

    package func subscribe(_ request: SubscriptionRequest, flavor: Flavor) async throws(HubError) -> Subscription {
        if !restored { await untilRestored() }
        guard !shuttingDown else { throw .unavailable("the hub is shutting down") }
        let result = try state.subscribe(request, flavor: flavor, now: Date())
        logger.debug(
            "subscribed",
            metadata: ["topic": "\(request.topic)", "events": "\(result.subscription.eventsString)", "new": "\(result.created)"])
        perform(result.effects)
        if keepsState { try await written() }
        return result.subscription
    }

    /// Another node took an unsubscribe for a socket held here: it ends here, and the store forgets it.
    func unsubscribedElsewhere(_ id: SubscriptionID) {
        perform(state.unsubscribedElsewhere(id))
    }

    package func unsubscribe(_ request: SubscriptionRequest) async throws(HubError) -> Subscription {
        if !restored { await untilRestored() }
        if let elsewhere = try await unsubscribeElsewhere(request) { return elsewhere }
        let (sub, effects) = try state.unsubscribe(request)
        perform(effects)
        if keepsState { try await written() }
        return sub
    }

    /// Accepts an event and delivers it. One from a FHIRcast app (not `fromBridge`) is also handed to the bridge,
    /// in acceptance order; if the bridge's queue is full its publisher gets a SyncError at once.
    /// - Parameter publisher: the request's `subscriber.name`, when it carried one.
    package func publish(_ notification: EventNotification, publisher: String? = nil, fromBridge: Bool = false) throws(HubError) {
        guard !shuttingDown else { throw .unavailable("the hub is shutting down") }
        let now = Date()
        publishStarted = .now
        defer { publishStarted = nil }
        guard !fromBridge, let outlet else {
            // An app's publish is counted by its route; the bridge's here.
            do throws(HubError) {
                perform(try state.publish(notification, now: now), redo: notification)
                if fromBridge { telemetry.fhircastPublishes.success.add() }
            } catch {
                if fromBridge { telemetry.fhircastPublishes.failure.add() }
                throw error
            }
            return
        }
        // The outlet checks first (a bad file bound for Cast refuses the whole event: nothing published), then the
        // hub accepts and delivers, then the outlet takes what was accepted.
        let outcome = try outlet.pass(notification, publisher: publisher) { () throws(HubError) -> EventNotification? in
            let effects = try state.publish(notification, now: now)
            perform(effects, redo: notification)
            guard case .deliver(let accepted, _)? = effects.first else { return nil }
            return accepted
        }
        if case .refused(let accepted, let reason) = outcome {
            perform(state.rejectAccepted(accepted, publisherName: publisher, diagnostics: reason, now: now))
        }
    }

    /// The bridge could not pass an accepted event on to Cast: its publisher gets a SyncError.
    package func rejectFromBridge(_ notification: EventNotification, publisher: String?, diagnostics: String) {
        guard !shuttingDown else { return }
        perform(state.rejectAccepted(notification, publisherName: publisher, diagnostics: diagnostics, now: Date()))
    }

    /// The context state of a topic (the bridge answers Cast STATUS requests from it).
    package func topicContext(_ topic: String) -> TopicContext? { state.context(of: topic) }

    package func currentContext(topic: String, flavor: Flavor) -> JSONValue {
        HubMessages.currentContext(state.context(of: topic), flavor: flavor)
    }

    package var subscriptionCount: Int { state.subscriptions.count }
    /// Events handed to a subscriber's channel and not yet taken; nil when it has none.
    func queued(_ id: SubscriptionID) -> Int? { sinks[id]?.sink.queued }
    /// Webhook subscriptions whose intent verification is still in flight.
    package var verifyingCount: Int { state.subscriptions.values.count { $0.state == .awaitingVerification } }

    /// Whether a topic exists for FHIRcast apps: the FHIRcast side knows it, or, with the bridge on, Cast apps listen
    /// on it (so that an EHR's event still reaches a Cast viewer that is the topic's only listener).
    package func topicExists(_ topic: String) async -> Bool {
        if !restored { await untilRestored() }
        if state.knows(topic: topic) { return true }
        if sharesEvents, await fanOut.topicExists(topic) { return true }
        guard let castTopics else { return false }
        return await castTopics(topic)
    }

    /// A FHIRcast app's event: refused with a 400 when its topic does not exist (C36), else `publish`. One call on the
    /// hub for the route; the Cast side is asked only about a topic the FHIRcast side does not know.
    package func publishFromApp(_ notification: EventNotification, publisher: String?) async throws(HubError) {
        if !restored { await untilRestored() }
        if !state.knows(topic: notification.event.topic) { try await requireTopic(notification.event.topic, status: 400) }
        try publish(notification, publisher: publisher)
        if keepsState { try await written() }
    }

    /// A 400 for a publish, or a 404 for a context read, of a topic that does not exist (C36, C43, IHE IRA).
    package func requireTopic(_ topic: String, status: Int) async throws(HubError) {
        guard await topicExists(topic) else {
            throw HubError(
                status,
                "unknown topic '\(topic)': a topic exists while it has a subscriber (a FHIRcast app, or a Cast app when bridged) or an open context; subscribe to it first")
        }
    }

    // MARK: Websocket sessions

    /// Whether a socket may connect to this endpoint now (checked before the upgrade, C15).
    package func acceptsConnection(_ id: SubscriptionID) async -> Bool {
        // A socket bound before the store's records are back would be given a topic's events by a copy of the topic
        // that the restore then replaces: an event the store already held when read counts as delivered here, and
        // this socket would never get it.
        if !restored { await untilRestored() }
        if state.subscriptions[id] == nil, sharesEvents, !shuttingDown, let elsewhere = await fanOut.subscription(id),
            state.adopt(subscription: elsewhere, now: Date())
        {
            perform([])
        }
        guard !shuttingDown, let sub = state.subscriptions[id] else { return false }
        return sub.isWebSocket && sub.state == .awaitingConnection && sub.expiresAt > Date()
    }

    /// Binds a connected socket to its subscription and queues the confirmation, then the current context.
    package func attach(_ id: SubscriptionID, sink: WebSocketSink) throws(HubError) {
        guard !shuttingDown else { throw .unavailable("the hub is shutting down") }
        let result = try state.connect(id, now: Date())
        sinks[id] = SinkEntry(sink: sink, flavor: result.subscription.flavor)
        _ = sink.send(JSONBody.encode(HubMessages.confirmation(result.subscription)))
        for n in result.replay {
            _ = sink.send(JSONBody.encode(n.json(flavor: result.subscription.flavor)))
        }
    }

    package func acknowledged(_ id: SubscriptionID, ack: AckFrame) {
        let now = Date()
        noteAckLatency(id, ack, now: now)
        perform(state.acknowledged(id, eventID: ack.id, status: ack.status, now: now))
    }

    /// `castbridge_ack_latency_seconds`: how long the ACK took since its event was sent.
    private func noteAckLatency(_ id: SubscriptionID, _ ack: AckFrame, now: Date) {
        guard let waited = state.ackWaited(id, eventID: ack.id, now: now) else { return }
        telemetry.ackLatency.record(seconds: waited)
    }

    /// ACKs collected on the event loops (`AckInbox`), in the order they arrived.
    private func drainAcks() {
        let now = Date()
        for (id, ack) in acks.take() {
            noteAckLatency(id, ack, now: now)
            perform(state.acknowledged(id, eventID: ack.id, status: ack.status, now: now))
        }
    }

    /// A socket ended. `closeFrame`: nil when the peer sent no close frame; a frame without a code counts as clean.
    package func detach(_ id: SubscriptionID, closeFrame: Int??) {
        sinks.removeValue(forKey: id)
        let code: Int? =
            switch closeFrame {
            case .none: nil
            case .some(.none): 1000
            case .some(.some(let c)): c
            }
        perform(state.disconnected(id, closeCode: code, now: Date()))
    }

    // MARK: Webhook outcomes

    private func verificationFinished(_ sub: Subscription, _ result: WebhookClient.Verification) {
        guard !shuttingDown else { return }
        switch result {
        case .confirmed:
            let wasActive = state.subscriptions[sub.id]?.state == .active
            state.verified(sub.id, success: true)
            perform([])
            guard !wasActive, let current = state.subscriptions[sub.id], case .webhook(let callback, let secret) = current.channel
            else { return }
            startWebhookWorker(current, callback: callback, secret: secret)
        case .refused:
            logger.info("webhook subscriber declined the subscription", metadata: ["topic": "\(sub.topic)"])
            state.verified(sub.id, success: false)
            perform([])
        case .failed(let why):
            logger.info("webhook intent verification failed", metadata: ["topic": "\(sub.topic)", "reason": "\(why)"])
            state.verified(sub.id, success: false)
            perform([])
        }
    }

    func startWebhookWorker(_ sub: Subscription, callback: String, secret: String) {
        let (stream, continuation) = AsyncStream<OutboundEvent>.makeStream(
            bufferingPolicy: .bufferingOldest(config.edge.sendBufferMessages))
        let workerState = WebhookWorkerState()
        sinks[sub.id] = SinkEntry(sink: WebhookSink(continuation: continuation, state: workerState), flavor: sub.flavor)
        let worker = WebhookWorker(
            subscription: sub.id, callback: callback, secret: secret, client: webhooks,
            attempts: max(1, config.webhookAttempts), backoff: .seconds(config.webhookBackoffSeconds),
            shutdown: shutdownDeadline, state: workerState, telemetry: telemetry)
        submit { await worker.run(stream, hub: self) }
    }

    package func webhookRefused(_ id: SubscriptionID, event: OutboundEvent, status: Int) {
        guard !shuttingDown else { return }
        perform(state.refused(id, eventID: event.eventID, eventName: event.eventName, status: status, now: Date()))
    }

    package func webhookUnresponsive(_ id: SubscriptionID, event: OutboundEvent, reason: String) {
        guard !shuttingDown else { return }
        perform(state.unresponsive(id, eventID: event.eventID, eventName: event.eventName, reason: reason, now: Date()))
    }

    // MARK: Effects

    /// Tells a bridge that follows topics (generation B) the topics that exist for FHIRcast apps, when that set changed.
    func reportTopics() {
        guard reportsTopics, let outlet, !shuttingDown, state.knownTopicsGeneration != reportedTopics else { return }
        reportedTopics = state.knownTopicsGeneration
        outlet.setTopics(state.knownTopics)
    }

    /// Carries out a state change's effects: at once without a store; with one, once the change is written, in the
    /// order the changes were made (`FHIRcastHub+Store`). `redo`: the change is the publish of this event (accepted
    /// here, then shared with the other nodes), which the hub makes again if another node wrote its topic first.
    func perform(_ effects: [HubEffect], redo: EventNotification? = nil) {
        let shared = redo == nil || !sharesEvents ? nil : sharedEvent(effects)
        guard keepsState else {
            if let shared { noteDelivered(shared) }
            return execute(effects, shared: shared)
        }
        var changes = state.takeChanges()
        var sharedAfter = shared
        if let shared, fanOut.sharesThroughStore {
            changes.events.append(shared)
            sharedAfter = nil
        }
        guard !changes.isEmpty || (writing && deliversAfterWrite) else {
            lastBatch = 0
            if let shared { noteDelivered(shared) }
            return execute(effects, shared: sharedAfter)
        }
        guard deliversAfterWrite else {
            // One node: delivered at once, answered once written (`HubStore.deliversAfterWrite`).
            lastBatch = enqueue(StoreBatch(id: nextBatchID(), changes: changes, effects: [], shared: nil, redo: nil))
            if let shared { noteDelivered(shared) }
            return execute(effects, shared: sharedAfter)
        }
        lastBatch = enqueue(
            StoreBatch(id: nextBatchID(), changes: changes, effects: effects, shared: sharedAfter, redo: redo, started: publishStarted))
        reportTopics()
    }

    func execute(_ effects: [HubEffect], shared: SharedEvent?) {
        defer {
            reportTopics()
            if keepsState {
                let later = state.takeChanges()
                if !later.isEmpty { enqueue(StoreBatch(id: nextBatchID(), changes: later, effects: [], shared: nil, redo: nil)) }
            }
        }
        if let shared { fanOut.share(shared) }
        var queue = effects[...]
        while let effect = queue.popFirst() {
            switch effect {
            case .deliver(let notification, let targets):
                var encoded: [Flavor: TextMessage] = [:]
                var round = DeliveryRound()
                var sent = 0
                defer {
                    telemetry.fhircastDeliveries.success.add(sent)
                    if let publishStarted, sent > 0 { telemetry.fhircastDeliveryLatency.record(since: publishStarted) }
                }
                for id in targets {
                    guard let entry = sinks[id] else { continue }
                    let message: TextMessage
                    if let cached = encoded[entry.flavor] {
                        message = cached
                    } else {
                        message = TextMessage(JSONBody.encode(notification.json(flavor: entry.flavor)))
                        encoded[entry.flavor] = message
                    }
                    let event = OutboundEvent(message: message, eventID: notification.id, eventName: notification.event.name)
                    if entry.sink.enqueue(event, into: &round) {
                        sent += 1
                    } else {
                        telemetry.fhircastDeliveries.failure.add()
                        logger.warning("dropping a subscriber whose send buffer overflowed", metadata: ["topic": "\(notification.event.topic)"])
                        queue.append(
                            contentsOf: state.unresponsive(
                                id, eventID: notification.id, eventName: notification.event.name,
                                reason: "send buffer overflow: the subscriber does not keep up", now: Date()))
                    }
                }
                round.submit()
            case .deny(let sub, let reason):
                let entry = sinks.removeValue(forKey: sub.id)
                logger.info("subscription denied", metadata: ["topic": "\(sub.topic)", "reason": "\(reason)"])
                switch sub.channel {
                case .websocket:
                    entry?.sink.deny(frame: JSONBody.encode(HubMessages.denial(sub, reason: reason)))
                case .webhook(let callback, _):
                    entry?.sink.deny(frame: ByteBuffer())
                    let client = webhooks
                    submit { await client.sendDenial(sub, callback: callback, reason: reason) }
                }
            case .verify(let sub):
                guard case .webhook(let callback, _) = sub.channel else { continue }
                let client = webhooks
                submit {
                    let result = await client.verify(sub, callback: callback)
                    await self.verificationFinished(sub, result)
                }
            case .shareSyncError(let notification):
                let fanOut = self.fanOut
                submit { await fanOut.shareSyncError(notification) }
            }
        }
    }
}
