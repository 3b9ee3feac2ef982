import FHIRcastCore
import FHIRcastService
import Logging
import StateStores

extension Castbridge {
    /// The FHIRcast hub's store for a `--store` location.
    static func hubStore(for location: StoreLocation, logger: Logger) -> any HubStore {
        switch location {
        case .memory: VolatileHubStore()
        case .sqlite(let path): SQLiteHubStore(path: path, logger: logger)
        case .postgres: UnavailableHubStore(reason: "the PostgreSQL store is not built yet; use sqlite:PATH or memory")
        }
    }
}

/// A store that cannot be opened: the hub stops at start with the reason.
struct UnavailableHubStore: HubStore {
    let reason: String
    var keepsState: Bool { true }
    func load() async throws -> HubRecords { throw StoreError(reason) }
    func commit(_ changes: HubChanges) async throws -> HubCommit { throw StoreError(reason) }
}
