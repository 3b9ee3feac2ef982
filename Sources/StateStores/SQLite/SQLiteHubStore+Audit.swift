import AccessCore
import Foundation
import SQLiteNIO

extension SQLiteHubStore: AuditArchive {
    package func append(_ records: [AuditRecord]) async throws {
        let encoder = JSONEncoder()
        let now = Date().timeIntervalSince1970
        let rows = try records.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try await exclusively { db in
            _ = try await db.query("BEGIN IMMEDIATE")
            do {
                for row in rows { _ = try await db.query("INSERT INTO audit_records (at, record) VALUES (?, ?)", [.float(now), .text(row)]) }
                _ = try await db.query("COMMIT")
            } catch {
                _ = try? await db.query("ROLLBACK")
                throw error
            }
        }
    }

    package func pruneAudit(before cutoff: Date) async throws {
        try await exclusively { db in
            _ = try await db.query("DELETE FROM audit_records WHERE at < ?", [.float(cutoff.timeIntervalSince1970)])
        }
    }

    package func latestAudit(limit: Int) async throws -> [AuditRecord] {
        try await exclusively { db in
            let decoder = JSONDecoder()
            return try await db.query("SELECT record FROM audit_records ORDER BY rowid DESC LIMIT ?", [.integer(limit)]).compactMap { row in
                guard let json = row.column("record")?.string else { return nil }
                return try decoder.decode(AuditRecord.self, from: Data(json.utf8))
            }
        }
    }
}
