import AccessCore
import ServiceSupport
import Synchronization

/// The audit records a test server wrote, in order.
final class CollectingAudit: AuditSink {
    private let records = Mutex<[AuditRecord]>([])

    func record(_ record: AuditRecord) { records.withLock { $0.append(record) } }
    var all: [AuditRecord] { records.withLock { $0 } }
}
