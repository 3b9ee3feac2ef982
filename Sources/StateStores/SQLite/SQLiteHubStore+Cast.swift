import CastCore
import CastService
import Foundation
import SQLiteNIO

/// The embedded Cast hub's WebSub subscriptions in the same SQLite file: they outlive a restart, as the FHIRcast
/// webhooks do. One node: nothing is told to anyone.
extension SQLiteHubStore: CastHubStore {
    package nonisolated var spansNodes: Bool { false }
    package nonisolated var keepsCastState: Bool { true }

    package func loadCast() async throws -> CastRecords {
        try await exclusively { db in
            let decoder = JSONDecoder()
            let subscriptions = try await db.query("SELECT subscription FROM cast_websub ORDER BY rowid").compactMap { row -> CastSubscription? in
                guard let json = row.column("subscription")?.string else { return nil }
                return try decoder.decode(CastSubscription.self, from: Data(json.utf8))
            }
            return CastRecords(subscriptions: subscriptions)
        }
    }

    package func record(_ message: CastClusterMessage) async throws {
        switch message {
        case .subscribed(let sub) where !sub.isWebSocket:
            let json = String(decoding: try JSONEncoder().encode(sub), as: UTF8.self)
            try await exclusively { db in
                _ = try await db.query(
                    "INSERT INTO cast_websub (endpoint, subscription) VALUES (?, ?) ON CONFLICT (endpoint) DO UPDATE SET subscription = excluded.subscription",
                    [.text(sub.endpoint), .text(json)])
            }
        case .removed(let endpoints):
            try await exclusively { db in
                for endpoint in endpoints { _ = try await db.query("DELETE FROM cast_websub WHERE endpoint = ?", [.text(endpoint)]) }
            }
        case .cleared, .reset:
            try await exclusively { db in _ = try await db.query("DELETE FROM cast_websub") }
        default:
            return
        }
    }
}
