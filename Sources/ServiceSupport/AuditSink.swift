import AccessCore
import Logging

/// Where audit records go (Docs/security.md). Issue #19 keeps them in the store with a retention setting.
package protocol AuditSink: Sendable {
    func record(_ record: AuditRecord)
}

/// Audit records as their own log lines (label `castbridge.audit`, level notice), one JSON object each.
package struct LogAuditSink: AuditSink {
    private let logger: Logger

    package init(logger: Logger = Logger(label: "castbridge.audit")) {
        self.logger = logger
    }

    package func record(_ record: AuditRecord) {
        logger.notice("\(record.jsonLine)")
    }
}

/// Records nothing (tests that do not look at the audit, and `--auth off` callers that pass none).
package struct NoAudit: AuditSink {
    package init() {}
    package func record(_ record: AuditRecord) {}
}
