import CastCore
import FHIRcastCore
import ServiceSupport

/// What the admin console and `/metrics` read of the embedded Cast hub, and the console's two actions.
extension CastHub {
    /// Subscriptions, conferences and pending requests (`CastHubState.consoleView`).
    package func console() async -> JSONValue {
        _ = try? await ready()
        return state.consoleView(ref: ConsoleRef.of, connected: { hasSocket($0) }, queued: { queued($0) })
    }

    package var census: (websocket: Int, websub: Int, topics: Int, pendingRequests: Int, conferences: Int) {
        let c = state.census
        return (c.websocket, c.websub, c.topics, state.pending.count, state.conferences.count)
    }

    /// Ends the subscription the console names `ref` (its socket closed, on whichever node holds it).
    package func end(ref: String) async throws(CastError) -> Bool {
        try await ready()
        guard let endpoint = state.endpoint(ref: ref, by: ConsoleRef.of) else { return false }
        return try await unsubscribe(endpoint: endpoint, callback: nil, topic: nil) > 0
    }

    /// Ends every subscription of `topic`. Returns how many ended.
    package func clear(topic: String) async throws(CastError) -> Int {
        try await ready()
        var ended = 0
        for endpoint in state.endpoints(onTopic: topic) {
            ended += try await unsubscribe(endpoint: endpoint, callback: nil, topic: nil)
        }
        return ended
    }
}
