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

    /// Queues a batch of changes for the store, with the effects that wait for it, and starts the writer if it is
    /// not running. Returns the batch's id.
    func enqueue(_ changes: HubChanges, effects: [HubEffect], share: Bool) -> Int {
        batchCount += 1
        unwritten.append(StoreBatch(id: batchCount, changes: changes, effects: effects, share: share))
        if !writing {
            writing = true
            // Not a child of `run`'s group: a write in flight at shutdown still finishes and answers its requests.
            Task { await self.writeBatches() }
        }
        return batchCount
    }

    /// The writer: writes what is queued, as one commit for all the batches queued while the one before was being
    /// written, then carries out their effects in order. A commit the store refuses undoes its batches and every batch
    /// queued behind them (they were built on it): their topics take the stored context again, their deliveries and
    /// verifications are dropped, and their requests get a 503.
    func writeBatches() async {
        while !unwritten.isEmpty {
            let group = unwritten
            unwritten.removeAll()
            var merged = HubChanges()
            for batch in group { merged.merge(batch.changes) }
            do {
                if !merged.isEmpty { try await store.commit(merged) }
                durable.apply(merged)
                for batch in group {
                    execute(batch.effects, share: batch.share)
                    finish(batch.id, nil)
                }
            } catch {
                let behind = unwritten
                unwritten.removeAll()
                for batch in behind { merged.merge(batch.changes) }
                logger.error(
                    "the hub's store did not keep a change; it is undone", metadata: ["error": "\(error)", "batches": "\(group.count + behind.count)"])
                state.revert(merged, to: durable, now: Date())
                let refusal = HubError.unavailable("the hub could not keep this change in its store (\(error)); try again")
                for batch in group + behind {
                    execute(batch.changes.isEmpty ? batch.effects : batch.effects.filter(\.survivesUndo), share: false)
                    finish(batch.id, refusal)
                }
            }
        }
        writing = false
    }

    private func finish(_ id: Int, _ error: HubError?) {
        writtenThrough = id
        for waiter in batchWaiters.removeValue(forKey: id) ?? [] { waiter.resume(returning: error) }
    }

    /// Returns once every batch queued so far is written (or failed).
    func untilWritten() async {
        guard writing, batchCount > writtenThrough else { return }
        let id = batchCount
        _ = await withCheckedContinuation { batchWaiters[id, default: []].append($0) }
    }

    /// Returns once the change the last `perform` made is written, or throws the 503 its batch got. Called right after
    /// that `perform`, in the same turn of the actor.
    func written() async throws(HubError) {
        let id = lastBatch
        guard id > writtenThrough else { return }
        let error = await withCheckedContinuation { batchWaiters[id, default: []].append($0) }
        if let error { throw error }
    }

    // MARK: Fan-out

    /// Hands an accepted event (the first delivery of a publish's effects) to the other nodes.
    func share(_ effects: [HubEffect]) {
        guard sharesEvents, case .deliver(let accepted, _)? = effects.first else { return }
        fanOut.share(accepted)
    }

    /// An event another node accepted: this node's subscribers get it.
    func replicated(_ event: EventNotification) {
        guard !shuttingDown else { return }
        perform(state.replicate(event, now: Date()))
    }
}
