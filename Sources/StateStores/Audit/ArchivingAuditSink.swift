import AccessCore
import Foundation
import Logging
import ServiceLifecycle
import ServiceSupport
import Synchronization

/// Audit records as their own log lines, and kept in the store (`AuditArchive`) for `retention`. Recording never
/// waits: records are queued, and a service writes what is queued in one go. If the store falls more than `capacity`
/// records behind, later records are logged only, and how many were not kept is logged.
package final class ArchivingAuditSink: AuditSink, Service {
    private let lines: LogAuditSink
    private let archive: any AuditArchive
    private let retention: TimeInterval
    private let logger: Logger
    private let capacity: Int
    private let pending = Mutex<(records: [AuditRecord], dropped: Int)>(([], 0))
    private let wakes: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    package init(archive: any AuditArchive, retention: TimeInterval, lines: LogAuditSink, logger: Logger, capacity: Int = 10_000) {
        self.archive = archive
        self.retention = retention
        self.lines = lines
        self.logger = logger
        self.capacity = capacity
        (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    package func record(_ record: AuditRecord) {
        lines.record(record)
        let capacity = self.capacity
        pending.withLock {
            if $0.records.count < capacity { $0.records.append(record) } else { $0.dropped += 1 }
        }
        wake.yield()
    }

    /// Writes the queued records whenever there are some, and prunes those older than the retention every hour,
    /// until shutdown; what is queued then is written before it returns.
    package func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.prune() }
            group.addTask {
                try? await gracefulShutdown()
                self.wake.finish()
            }
            for await _ in wakes { await flush() }
            await flush()
            group.cancelAll()
        }
    }

    private func flush() async {
        let (records, dropped) = pending.withLock { state in
            defer { state = ([], 0) }
            return (state.records, state.dropped)
        }
        if dropped > 0 {
            logger.warning("the audit store fell behind; records were logged but not kept", metadata: ["records": "\(dropped)"])
        }
        guard !records.isEmpty else { return }
        do {
            try await archive.append(records)
        } catch {
            logger.error("audit records were logged but could not be kept in the store", metadata: ["records": "\(records.count)", "error": "\(error)"])
        }
    }

    private func prune() async {
        while !Task.isCancelled {
            do {
                try await archive.pruneAudit(before: Date().addingTimeInterval(-retention))
            } catch {
                logger.warning("could not prune old audit records", metadata: ["error": "\(error)"])
            }
            do { try await Task.sleep(for: .seconds(3600)) } catch { return }
        }
    }
}
