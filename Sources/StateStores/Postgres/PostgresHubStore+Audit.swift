import AccessCore
import Foundation
import PostgresNIO

extension PostgresHubStore: AuditArchive {
    package func append(_ records: [AuditRecord]) async throws {
        try await ready()
        let encoder = JSONEncoder()
        let rows = try records.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try await bounded("keep audit records") { [logger] connection in
            try await connection.query("INSERT INTO audit_records (at, record) SELECT now(), r FROM unnest(\(rows)::text[]) WITH ORDINALITY AS x(r, n) ORDER BY n", logger: logger)
        }
    }

    package func pruneAudit(before cutoff: Date) async throws {
        try await ready()
        try await bounded("prune audit records") { [logger] connection in
            try await connection.query("DELETE FROM audit_records WHERE at < \(cutoff)", logger: logger)
        }
    }

    package func latestAudit(limit: Int) async throws -> [AuditRecord] {
        try await ready()
        return try await bounded("read audit records") { [logger] connection in
            var found: [AuditRecord] = []
            let rows = try await connection.query("SELECT record FROM audit_records ORDER BY id DESC LIMIT \(limit)", logger: logger)
            for try await json in rows.decode(String.self) { found.append(try JSONDecoder().decode(AuditRecord.self, from: Data(json.utf8))) }
            return found
        }
    }
}
