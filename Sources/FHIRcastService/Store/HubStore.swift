import FHIRcastCore

/// Where the hub keeps what must outlive the process: topic contexts with their versions, and webhook subscriptions
/// (`HubChanges`, `HubRecords`). The stores are in `StateStores` (SQLite, PostgreSQL); `VolatileHubStore` keeps nothing.
package protocol HubStore: Sendable {
    /// False for a store that keeps nothing: the hub then neither records nor writes changes, so publishing costs
    /// nothing more.
    var keepsState: Bool { get }
    /// Whether a change's effects (a publish's delivery) wait until it is written. True for a store shared by several
    /// nodes, where the store decides the order and may refuse a write another node made first: nothing is delivered
    /// that the store did not take. False for a store of one node, which cannot conflict: the event is delivered at
    /// once (no write on the delivery path) and the request still answered only once it is written; if the write
    /// fails, the publisher gets a 503 and its retry (the same id) is delivered again.
    var deliversAfterWrite: Bool { get }
    /// What the store holds, read once at start.
    func load() async throws -> HubRecords
    /// Writes one batch of changes. The hub calls it one batch at a time, in the order the changes were made, and
    /// answers a publish or a subscription only once its batch is written. A store shared by several nodes writes a
    /// topic only if it still holds the topic's `topicBasis`, and returns the others as conflicts; a store of one node
    /// has none. Throws when nothing could be written.
    func commit(_ changes: HubChanges) async throws -> HubCommit
    /// Makes a change again over what the store holds for `topic`, with the topic locked against the other nodes
    /// until it is written (after a conflict: a node that only retried could lose the race again and again). `make`
    /// gets the stored context and returns the changes to write; what it throws is thrown, and nothing is written.
    func rewrite(topic: String, _ make: @escaping @Sendable (TopicContext?) async throws -> HubChanges) async throws
    /// Releases the store (its file, its connections) once the hub has stopped and written its last batch.
    func close() async
    /// Throws when the store does not answer now (`/health/ready`).
    func ping() async throws
}

extension HubStore {
    package func close() async {}
    package func ping() async throws {}
    package func rewrite(topic: String, _ make: @escaping @Sendable (TopicContext?) async throws -> HubChanges) async throws {
        throw StoreConflictUnsupported()
    }
}

/// A store of one node reports no conflicts, so it is never asked to rewrite a topic.
package struct StoreConflictUnsupported: Error, CustomStringConvertible {
    package var description: String { "this store does not lock topics (it is not shared by several nodes)" }
}

/// Keeps nothing: every restart begins empty (the behaviour before issue #19, and `--store memory`'s).
package struct VolatileHubStore: HubStore {
    package init() {}
    package var keepsState: Bool { false }
    package var deliversAfterWrite: Bool { false }
    package func load() async throws -> HubRecords { HubRecords() }
    package func commit(_ changes: HubChanges) async throws -> HubCommit { .written }
}
