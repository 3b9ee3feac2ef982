import FHIRcastCore
import Foundation
import ServiceSupport

/// What the admin console and `/metrics` read of the FHIRcast hub, and the console's two actions.
extension FHIRcastHub {
    /// Every topic with its (masked) context and its subscribers (`HubState.consoleView`).
    package func console(revealsIDs: Bool) async -> JSONValue {
        if !restored { await untilRestored() }
        return state.consoleView(now: Date(), revealsIDs: revealsIDs, ref: { ConsoleRef.of($0.raw) }, queued: { queued($0) })
    }

    package var census: HubState.Census { state.census }
    package var syncErrorsMade: [SyncErrorCause: Int] { state.syncErrorsMade }
    package var awaitingAcks: Int { state.pendingAckCount }

    /// Ends the subscription the console names `ref`. False when there is none (ended already, or on another node).
    package func end(ref: String) async throws(HubError) -> Bool {
        if !restored { await untilRestored() }
        guard !shuttingDown else { throw .unavailable("the hub is shutting down") }
        guard let id = state.subscriptions.keys.first(where: { ConsoleRef.of($0.raw) == ref }) else { return false }
        perform(state.end(id, reason: "ended by an administrator"))
        if keepsState { try await written() }
        return true
    }

    /// Ends every subscription of `topic` and, on one node, forgets its context. Returns how many subscriptions ended.
    /// A cluster's nodes share a topic's context through the store, which keeps every topic (Docs/deployment.md): a
    /// context forgotten here alone would differ from the other nodes', so there it stays.
    package func clear(topic: String) async throws(HubError) -> Int {
        if !restored { await untilRestored() }
        guard !shuttingDown else { throw .unavailable("the hub is shutting down") }
        let effects = state.clear(topic: topic, reason: "the topic was cleared by an administrator", forgetsContext: !sharesEvents)
        perform(effects)
        if keepsState { try await written() }
        return effects.count
    }
}
