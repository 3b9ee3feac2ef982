import CastCore

/// Where the embedded Cast hub keeps what outlives a restart, and how it reaches the other nodes of a cluster. The
/// SQLite store keeps WebSub subscriptions; the PostgreSQL store keeps every subscription and conference and carries
/// every message to every node (`StateStores`); by default nothing is kept.
package protocol CastHubStore: Sendable {
    /// Whether other nodes share the hub: every message is told to them, and publishes are delivered when heard.
    var spansNodes: Bool { get }
    /// Whether anything is kept at all (false: the hub never calls `record`).
    var keepsCastState: Bool { get }
    /// What was kept, read once before the hub serves its first request.
    func loadCast() async throws -> CastRecords
    /// A message of this node: kept (what the store keeps of it) and, in a cluster, told to every node, this one
    /// included. Returns once it is durable; throws when it is not.
    func record(_ message: CastClusterMessage) async throws
    /// What the nodes told, in the cluster's one order, until the store stops.
    func castNotes() -> AsyncStream<CastClusterNote>
    /// A subscription another node took, for a socket that binds here before its notice came.
    func castSubscription(_ endpoint: String) async -> CastSubscription?
}

extension CastHubStore {
    package func castNotes() -> AsyncStream<CastClusterNote> { AsyncStream { $0.finish() } }
    package func castSubscription(_ endpoint: String) async -> CastSubscription? { nil }
}

/// Nothing kept, no one to tell: the hub as it always was (`--store memory`, and the tests' default).
package struct VolatileCastStore: CastHubStore {
    package init() {}
    package var spansNodes: Bool { false }
    package var keepsCastState: Bool { false }
    package func loadCast() async throws -> CastRecords { CastRecords() }
    package func record(_ message: CastClusterMessage) async throws {}
}
