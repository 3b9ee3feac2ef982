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

    /// Hands the changes made since the last batch to the store, after the batch before it.
    func commitChanges() {
        let changes = state.takeChanges()
        guard !changes.isEmpty else { return }
        let previous = commitTail
        let store = self.store
        let logger = self.logger
        commitTail = Task {
            _ = try? await previous?.value
            do {
                try await store.commit(changes)
            } catch {
                logger.error("the hub's store did not keep a change", metadata: ["error": "\(error)"])
                throw error
            }
        }
    }

    /// Returns once every change made so far is written; a 503 when the store failed to write one.
    func written() async throws(HubError) {
        guard let tail = commitTail else { return }
        do {
            try await tail.value
        } catch {
            throw .unavailable("the hub could not keep this change in its store (\(error)); try again")
        }
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
