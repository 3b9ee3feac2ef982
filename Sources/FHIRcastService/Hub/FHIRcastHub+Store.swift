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
                commit = merged.isEmpty ? .written : try await store.commit(merged)
            } catch {
                undo(group, merged: merged, error: error)
                continue
            }
            guard !commit.conflicts.isEmpty else {
                durable.apply(merged)
                for batch in group {
                    execute(batch.effects, shared: batch.shared)
                    finish(batch.id, nil)
                }
                continue
            }
            let conflicted = Set(commit.conflicts.keys)
            durable.apply(merged.removing(topics: conflicted))
            var stale = HubChanges()
            for (topic, stored) in commit.conflicts {
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
                    execute(batch.effects, shared: batch.shared)
                    finish(batch.id, nil)
                } else {
                    redo(batch)
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
            execute(batch.changes.isEmpty ? batch.effects : batch.effects.filter(\.survivesUndo), shared: nil)
            finish(batch.id, refusal)
        }
    }

    /// Makes a publish again over the store's context of its topic, keeping its place for the request that waits.
    private func redo(_ batch: StoreBatch) {
        execute(batch.effects.filter(\.survivesUndo), shared: nil)
        guard let event = batch.redo, batch.attempt < 5 else {
            finish(batch.id, .unavailable("the topic is being changed on other nodes faster than this one can follow; try again"))
            return
        }
        do {
            let effects = try state.publish(event, now: Date())
            var changes = state.takeChanges()
            var shared = sharesEvents ? sharedEvent(effects) : nil
            if let event = shared, fanOut.sharesThroughStore {
                changes.events.append(event)
                shared = nil
            }
            var again = StoreBatch(id: batch.id, changes: changes, effects: effects, shared: shared, redo: event)
            again.attempt = batch.attempt + 1
            unwritten.append(again)
        } catch {
            finish(batch.id, error)
        }
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

    /// The event a publish's effects deliver, with its number in its topic's order.
    func sharedEvent(_ effects: [HubEffect]) -> SharedEvent? {
        guard case .deliver(let accepted, _)? = effects.first else { return nil }
        return SharedEvent(event: accepted, sequence: state.context(of: accepted.event.topic)?.sequence ?? 0)
    }

    /// An event another node accepted: this node's subscribers get it, in the topic's order. One that shows this
    /// node missed earlier events waits while they are fetched and delivered first (`catchUp`).
    func replicated(_ shared: SharedEvent) {
        guard !shuttingDown else { return }
        let topic = shared.event.event.topic
        if catchingUp[topic] != nil {
            catchingUp[topic]?.append(shared)
            return
        }
        let (effects, follow) = state.replicate(shared.event, sequence: shared.sequence, now: Date())
        switch follow {
        case .applied:
            if keepsState { durable.topics[topic] = state.context(of: topic) }
            perform(effects)
        case .alreadyAhead:
            perform(effects)
        case .gap(let expected):
            catchingUp[topic] = [shared]
            let fanOut = self.fanOut
            submit {
                let missed = try? await fanOut.missed(topic: topic, after: expected - 1)
                let stored = missed == nil ? try? await fanOut.storedContext(topic: topic) : nil
                await self.caughtUp(topic, missed: missed, stored: stored)
            }
        }
    }

    /// Delivers the events a node missed, then those that came meanwhile. When the missed ones are no longer kept, the
    /// topic takes the stored context and only the later events are delivered (logged: this node's subscribers of
    /// the topic missed some).
    private func caughtUp(_ topic: String, missed: [SharedEvent]?, stored: TopicContext?) {
        let held = catchingUp.removeValue(forKey: topic) ?? []
        if let missed {
            for event in missed where event.sequence < (held.first?.sequence ?? .max) { replicated(event) }
        } else {
            logger.warning("this node missed events of a topic that are no longer kept; it takes the topic's context from the store", metadata: ["topic": "\(topic)"])
            state.adopt(topic, stored, now: Date())
            if keepsState { durable.topics[topic] = stored }
        }
        for event in held { replicated(event) }
    }
}
