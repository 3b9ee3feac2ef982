import ServiceSupport
import FHIRcastCore
import Foundation
import Logging

/// The hub's two seams beyond one process: the store that keeps its durable state (`HubStore`), and the other
/// nodes of a cluster (`TopicFanOut`).
extension FHIRcastHub {
    // MARK: Store

    /// Takes back what the store kept, before any request is served (requests wait for it): topic contexts, and
    /// webhook subscriptions, whose delivery resumes (or whose verification is sent again). A store that cannot be
    /// read stops the hub, and with it the server, with the store's reason.
    func restore() async throws {
        let records = try await store.load()
        durable = records
        if sharesEvents { for (topic, context) in records.topics { delivered[topic] = context.sequence } }
        let result = state.restore(records, now: Date())
        for sub in result.activeWebhooks {
            if case .webhook(let callback, let secret) = sub.channel { startWebhookWorker(sub, callback: callback, secret: secret) }
        }
        perform(result.effects)
        logger.info(
            "hub state restored",
            metadata: ["topics": "\(records.topics.count)", "webhookSubscriptions": "\(result.activeWebhooks.count + result.effects.count)"])
        endRestoreWait()
    }

    /// A webhook subscription whose node stopped: this node delivers to it from now on (or verifies it, if its
    /// intent was not yet confirmed).
    /// A WebSocket unsubscribe for a subscription whose socket another node of the cluster holds (a load balancer
    /// sent the request elsewhere): that node is told, and ends it. Nil when this node holds it, or none does.
    func unsubscribeElsewhere(_ request: SubscriptionRequest) async throws(HubError) -> Subscription? {
        guard sharesEvents, request.channelType == .websocket, let endpoint = request.endpoint else { return nil }
        let id = SubscriptionID(HubState.endpointID(endpoint))
        guard state.subscriptions[id] == nil, let sub = await fanOut.subscription(id) else { return nil }
        guard sub.topic == request.topic else { throw .badRequest("hub.channel.endpoint does not belong to topic '\(request.topic)'") }
        do {
            try await fanOut.shareUnsubscribe(id)
        } catch {
            throw .unavailable("the unsubscribe could not be passed to the node that holds the socket: \(error)", retryAfter: 1)
        }
        return sub
    }

    func takeOver(_ handover: WebhookHandover) {
        guard !shuttingDown else { return }
        let sub = handover.subscription
        let now = Date()
        let result = state.restore(HubRecords(subscriptions: [sub.id: sub]), now: now)
        for taken in result.activeWebhooks {
            if case .webhook(let callback, let secret) = taken.channel { startWebhookWorker(taken, callback: callback, secret: secret) }
        }
        let replay = state.replay(handover.missed, to: sub.id, now: now)
        logger.info(
            "took over a webhook subscription from a node that stopped",
            metadata: ["topic": "\(sub.topic)", "replayed": "\(replay.count)"])
        perform(result.effects + replay)
    }

    /// Returns once the store's records are back (at once when nothing is kept).
    func untilRestored() async {
        guard !restored else { return }
        await withCheckedContinuation { restoreWaiters.append($0) }
    }

    func endRestoreWait() {
        restored = true
        for waiter in restoreWaiters { waiter.resume() }
        restoreWaiters = []
    }

    func nextBatchID() -> Int {
        batchCount += 1
        return batchCount
    }

    /// Queues a batch for the store, and starts the writer if it is not running. Returns the batch's id.
    @discardableResult
    func enqueue(_ batch: StoreBatch) -> Int {
        unwritten.append(batch)
        openBatches.insert(batch.id)
        if !writing {
            writing = true
            // Not a child of `run`'s group: a write in flight at shutdown still finishes and answers its requests.
            Task { await self.writeBatches() }
        }
        return batch.id
    }

    /// The writer: writes what is queued, as one commit for all the batches queued while the one before was being
    /// written, then carries out their effects in order.
    ///
    /// A commit the store refuses undoes its batches and every batch queued behind them (they were built on it):
    /// their topics take the stored context again, their deliveries and verifications are dropped, and their requests
    /// get a 503. A topic another node wrote first (a conflict) takes the store's context, and the publishes of that
    /// topic are made again over it, in order: accepted, or refused as they would have been had they come later.
    func writeBatches() async {
        while !unwritten.isEmpty {
            let group = unwritten
            unwritten.removeAll()
            var merged = HubChanges()
            for batch in group { merged.merge(batch.changes) }
            let commit: HubCommit
            do {
                if merged.isEmpty {
                    commit = .written
                } else {
                    let start = ContinuousClock.now
                    commit = try await store.commit(merged)
                    config.edge.telemetry.storeWrite.record(since: start)
                }
            } catch {
                undo(group, merged: merged, error: error)
                continue
            }
            guard !commit.conflicts.isEmpty else {
                durable.apply(merged)
                for batch in group {
                    carryOut(batch)
                    finish(batch.id, nil)
                }
                continue
            }
            let conflicted = Set(commit.conflicts.keys)
            durable.apply(merged.removing(topics: conflicted))
            var stale = HubChanges()
            for (topic, stored) in commit.conflicts {
                // What this node delivered is what it knew: the events in the stored context it did not see yet come
                // by their notices, before its own publish made again (`deliverInOrder`).
                if delivered[topic] == nil { delivered[topic] = durable.topics[topic]?.sequence ?? 0 }
                durable.topics[topic] = stored
                stale.forgottenTopics.insert(topic)
            }
            logger.debug("another node wrote these topics first; their publishes are made again", metadata: ["topics": "\(conflicted.sorted())"])
            state.revert(stale, to: durable, now: Date())
            // Batches behind that touch those topics were built on what is now replaced: they are made again too.
            let behind = unwritten
            unwritten = behind.filter { $0.changes.topics.isDisjoint(with: conflicted) }
            for batch in group + behind.filter({ !$0.changes.topics.isDisjoint(with: conflicted) }) {
                if batch.changes.topics.isDisjoint(with: conflicted) {
                    carryOut(batch)
                    finish(batch.id, nil)
                } else {
                    await redo(batch)
                }
            }
        }
        writing = false
    }

    /// The store could not write `group`: it and every batch behind it are undone (see `writeBatches`).
    private func undo(_ group: [StoreBatch], merged: HubChanges, error: any Error) {
        var merged = merged
        let behind = unwritten
        unwritten.removeAll()
        for batch in behind { merged.merge(batch.changes) }
        logger.error(
            "the hub's store did not keep a change; it is undone", metadata: ["error": "\(error)", "batches": "\(group.count + behind.count)"])
        state.revert(merged, to: durable, now: Date())
        let refusal = HubError.unavailable("the hub could not keep this change in its store (\(error)); try again")
        for batch in group + behind {
            if batch.changes.isEmpty {
                execute(batch.effects, shared: nil)
            } else {
                state.withdraw(batch.effects)
                execute(batch.effects.filter(\.survivesUndo), shared: nil)
            }
            finish(batch.id, refusal)
        }
    }

    /// Makes a publish again over the store's context of its topic, with the topic locked against the other nodes
    /// until it is written, keeping its place for the request that waits: accepted, or refused as it would have been
    /// had it come later (a stale versionId: 400).
    private func redo(_ batch: StoreBatch) async {
        // The first attempt's deliveries are not made: the remade event's are (with the same id).
        state.withdraw(batch.effects)
        execute(batch.effects.filter(\.survivesUndo), shared: nil)
        guard let event = batch.redo else {
            finish(batch.id, nil)
            return
        }
        let topic = event.event.topic
        let remade = Remade()
        do {
            try await store.rewrite(topic: topic) { stored in
                try await self.remake(event, over: stored, into: remade)
            }
        } catch let error as HubError {
            finish(batch.id, error)
            return
        } catch {
            // Nothing was written: the copy takes the store's context again at the next conflict or catch-up.
            logger.error("the hub's store did not keep a change made again", metadata: ["error": "\(error)"])
            if let failed = remade.changes {
                state.revert(failed, to: durable, now: Date())
                state.withdraw(remade.effects)
            }
            finish(batch.id, .unavailable("the hub could not keep this change in its store (\(error)); try again"))
            return
        }
        guard let changes = remade.changes else { return finish(batch.id, nil) }
        durable.apply(changes)
        if let own = changes.events.first {
            deliverInOrder(topic: own.event.event.topic, sequence: own.sequence, remade.effects)
        } else {
            execute(remade.effects, shared: nil)
        }
        finish(batch.id, nil)
    }

    /// The publish made again over `stored` (inside the store's lock): this node's copy takes the stored context,
    /// then the event; its changes and effects are kept in `remade`.
    private func remake(_ event: EventNotification, over stored: TopicContext?, into remade: Remade) throws(HubError) -> HubChanges {
        let topic = event.event.topic
        if delivered[topic] == nil { delivered[topic] = durable.topics[topic]?.sequence ?? 0 }
        durable.topics[topic] = stored
        var stale = HubChanges()
        stale.forgottenTopics = [topic]
        state.revert(stale, to: durable, now: Date())
        let effects = try state.publish(event, now: Date())
        var changes = state.takeChanges()
        if sharesEvents, let shared = sharedEvent(effects) { changes.events.append(shared) }
        remade.set(changes, effects)
        return changes
    }

    private func finish(_ id: Int, _ error: HubError?) {
        openBatches.remove(id)
        for waiter in batchWaiters.removeValue(forKey: id) ?? [] { waiter.resume(returning: error) }
    }

    /// Returns once every batch queued so far is written (or failed), at most a few seconds (shutdown).
    func untilWritten() async {
        let deadline = ContinuousClock.now + .seconds(5)
        while writing, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
    }

    /// Returns once the change the last `perform` made is written, or throws the error its batch got (a 503 when the
    /// store failed; a publish made again after a conflict may get the 4xx it now deserves). Called right after that
    /// `perform`, in the same turn of the actor.
    func written() async throws(HubError) {
        let id = lastBatch
        guard openBatches.contains(id) else { return }
        let error = await withCheckedContinuation { batchWaiters[id, default: []].append($0) }
        if let error { throw error }
    }

    // MARK: Fan-out

    func noteDelivered(_ event: SharedEvent) {
        let topic = event.event.event.topic
        delivered[topic] = max(delivered[topic] ?? 0, event.sequence)
    }

    /// A written batch's effects: a publish whose event the store carries to the other nodes is delivered here in
    /// its topic's order, like theirs; anything else at once.
    private func carryOut(_ batch: StoreBatch) {
        publishStarted = batch.started
        defer { publishStarted = nil }
        if let own = batch.changes.events.first {
            deliverInOrder(topic: own.event.event.topic, sequence: own.sequence, batch.effects)
            return
        }
        if let shared = batch.shared { noteDelivered(shared) }
        execute(batch.effects, shared: batch.shared)
    }

    /// The event a publish's effects deliver, with its number in its topic's order.
    func sharedEvent(_ effects: [HubEffect]) -> SharedEvent? {
        guard case .deliver(let accepted, _)? = effects.first else { return nil }
        return SharedEvent(event: accepted, sequence: state.context(of: accepted.event.topic)?.sequence ?? 0)
    }

    /// An event another node accepted: this node's copy of the topic follows it (or, having missed some, takes the
    /// stored context), and this node's subscribers get it in the topic's order.
    func replicated(_ shared: SharedEvent) {
        guard !shuttingDown else { return }
        let topic = shared.event.event.topic
        if delivered[topic] == nil { delivered[topic] = durable.topics[topic]?.sequence ?? 0 }
        guard shared.sequence > delivered[topic] ?? 0, held[topic]?[shared.sequence] == nil else { return }
        let (effects, follow) = state.replicate(shared.event, sequence: shared.sequence, now: Date())
        switch follow {
        case .applied:
            if keepsState { durable.topics[topic] = state.context(of: topic) }
        case .alreadyAhead:
            break
        case .gap:
            refreshContext(topic)
        }
        deliverInOrder(topic: topic, sequence: shared.sequence, effects)
    }

    /// Delivers a cluster event (this node's or another's) once every earlier event of its topic has been delivered
    /// here; a later one waits (`held`), and if what it waits for does not come by its notice soon, it is read from the
    /// store (`fillGap`).
    func deliverInOrder(topic: String, sequence: Int64, _ effects: [HubEffect]) {
        let last = delivered[topic] ?? 0
        guard sequence > last else { return }
        guard sequence == last + 1 else {
            held[topic, default: [:]][sequence] = effects
            fillGap(topic)
            return
        }
        execute(effects, shared: nil)
        var next = sequence
        while let waiting = held[topic]?.removeValue(forKey: next + 1) {
            execute(waiting, shared: nil)
            next += 1
        }
        delivered[topic] = next
        if held[topic]?.isEmpty == true { held.removeValue(forKey: topic) }
    }

    /// After a moment, reads from the store the events a topic still waits for, and delivers them (their notices
    /// were lost: the listening connection dropped). When the store no longer keeps them, the waiting events go out
    /// without them, and the loss is logged.
    private func fillGap(_ topic: String) {
        guard !filling.contains(topic) else { return }
        filling.insert(topic)
        let fanOut = self.fanOut
        let wait = Duration.seconds(config.clusterGapWaitSeconds)
        submit {
            try? await Task.sleep(for: wait)
            guard let after = await self.stillWaiting(topic) else { return }
            let missed = try? await fanOut.missed(topic: topic, after: after)
            await self.filled(topic, missed: missed)
        }
    }

    private func stillWaiting(_ topic: String) -> Int64? {
        guard held[topic]?.isEmpty == false else {
            filling.remove(topic)
            return nil
        }
        return delivered[topic] ?? 0
    }

    private func filled(_ topic: String, missed: [SharedEvent]?) {
        filling.remove(topic)
        if let missed, !missed.isEmpty {
            for event in missed { replicated(event) }
        } else if let first = held[topic]?.keys.min() {
            logger.warning(
                "this node missed events of a topic that the store no longer keeps; its subscribers of the topic did not get them",
                metadata: ["topic": "\(topic)", "from": "\((delivered[topic] ?? 0) + 1)", "to": "\(first - 1)"])
            delivered[topic] = first - 1
            if let effects = held[topic]?.removeValue(forKey: first) { deliverInOrder(topic: topic, sequence: first, effects) }
        }
        if held[topic]?.isEmpty == false { fillGap(topic) }
    }

    /// This node's copy of a topic missed events: it takes the store's, when newer.
    private func refreshContext(_ topic: String) {
        let fanOut = self.fanOut
        submit {
            guard let stored = try? await fanOut.storedContext(topic: topic) else { return }
            await self.adoptStored(topic, stored)
        }
    }

    private func adoptStored(_ topic: String, _ stored: TopicContext) {
        state.adopt(topic, stored, now: Date())
        if keepsState, (durable.topics[topic]?.sequence ?? 0) < stored.sequence { durable.topics[topic] = stored }
    }
}
