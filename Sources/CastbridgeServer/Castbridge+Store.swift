import FHIRcastCore
import FHIRcastService
import Logging
import ServiceSupport
import ServiceLifecycle
import StateStores
import CastService

extension Castbridge {
    /// The FHIRcast hub's store for a `--store` location, and the other nodes it shares (PostgreSQL: a cluster).
    /// The embedded Cast hub's store is the same one (`CastHubStore`).
    static func hubStore(for location: StoreLocation, logger: Logger) -> (any HubStore, any TopicFanOut, any CastHubStore) {
        switch location {
        case .memory: return (VolatileHubStore(), SingleNode(), VolatileCastStore())
        case .sqlite(let path):
            let store = SQLiteHubStore(path: path, logger: logger)
            return (store, SingleNode(), store)
        case .postgres(let address):
            let cluster = PostgresHubStore(address: address, logger: logger)
            return (cluster, cluster, cluster)
        }
    }

    /// Audit records as log lines, and in the store too when it keeps them and the retention is above 0.
    static func auditSink(store: any HubStore, retentionDays: Double, lines: LogAuditSink, logger: Logger) -> any AuditSink {
        guard retentionDays > 0, let archive = store as? any AuditArchive else { return lines }
        return ArchivingAuditSink(archive: archive, retention: retentionDays * 86_400, lines: lines, logger: logger)
    }

    /// The store and fan-out when they run as services of their own (PostgreSQL's connections), started before the
    /// hub and stopped after it.
    var storeServices: [any Service] {
        var services: [any Service] = []
        if let service = store as? any Service { services.append(service) }
        if let service = fanOut as? any Service, (fanOut as AnyObject) !== (store as AnyObject) { services.append(service) }
        if let service = audit as? any Service { services.append(service) }
        return services
    }
}

