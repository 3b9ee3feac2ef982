import FHIRcastCore
import FHIRcastService
import Logging
import ServiceLifecycle
import StateStores

extension Castbridge {
    /// The FHIRcast hub's store for a `--store` location, and the other nodes it shares (PostgreSQL: a cluster).
    static func hubStore(for location: StoreLocation, logger: Logger) -> (any HubStore, any TopicFanOut) {
        switch location {
        case .memory: (VolatileHubStore(), SingleNode())
        case .sqlite(let path): (SQLiteHubStore(path: path, logger: logger), SingleNode())
        case .postgres(let address):
            { let cluster = PostgresHubStore(address: address, logger: logger); return (cluster, cluster) }()
        }
    }

    /// The store and fan-out when they run as services of their own (PostgreSQL's connections), started before the
    /// hub and stopped after it.
    var storeServices: [any Service] {
        var services: [any Service] = []
        if let service = store as? any Service { services.append(service) }
        if let service = fanOut as? any Service, (fanOut as AnyObject) !== (store as AnyObject) { services.append(service) }
        return services
    }
}

