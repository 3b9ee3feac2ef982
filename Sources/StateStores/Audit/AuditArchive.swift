import AccessCore
import Foundation

/// A store that keeps audit records (issue #13's), for as long as the retention setting says.
package protocol AuditArchive: Sendable {
    /// Appends records, in the order they were made.
    func append(_ records: [AuditRecord]) async throws
    /// Drops the records made before `cutoff`.
    func pruneAudit(before cutoff: Date) async throws
    /// The latest records, newest first (the admin console, tests).
    func latestAudit(limit: Int) async throws -> [AuditRecord]
}
