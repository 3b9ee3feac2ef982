import FHIRcastCore

/// Keeps the hub's records in this process's memory: a hub started again over the same store takes them back, as
/// it would from a database. The reference implementation of `HubStore`, and the one the seam's tests use.
package actor MemoryHubStore: HubStore {
    private var records = HubRecords()
    /// When set, commits and pings fail with it (a store that cannot be reached).
    private var failure: (any Error)?

    package nonisolated let deliversAfterWrite: Bool

    /// `deliversAfterWrite`: behave as a cluster's store (true) or as one node's (false).
    package init(deliversAfterWrite: Bool = true) {
        self.deliversAfterWrite = deliversAfterWrite
    }

    package nonisolated var keepsState: Bool { true }
    package func load() async throws -> HubRecords { records }

    package func ping() async throws {
        if let failure { throw failure }
    }

    package func commit(_ changes: HubChanges) async throws -> HubCommit {
        if let failure { throw failure }
        records.apply(changes)
        return .written
    }

    /// Makes the following commits fail (nil: succeed again).
    package func failCommits(with error: (any Error)?) { failure = error }

    package var snapshot: HubRecords { records }
}
