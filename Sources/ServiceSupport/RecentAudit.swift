import AccessCore
import DequeModule
import Synchronization

/// Keeps the latest audit records for the admin console, and passes every record on.
package final class RecentAudit: AuditSink {
    private let kept = Mutex<Deque<AuditRecord>>([])
    private let limit: Int
    private let next: any AuditSink

    package init(keeping limit: Int, then next: any AuditSink) {
        self.limit = max(1, limit)
        self.next = next
    }

    package func record(_ record: AuditRecord) {
        kept.withLock { records in
            if records.count == limit { records.removeFirst() }
            records.append(record)
        }
        next.record(record)
    }

    /// The kept records, newest first.
    package var latest: [AuditRecord] { kept.withLock { Array($0.reversed()) } }
}
