import CastService
import Foundation
import NIOCore
import PostgresNIO

/// Binary batches in a cluster: each uploaded chunk (at most `--cast-payload-chunk-bytes`, 4 MiB by default) is a
/// `bytea` row of `cast_payloads`, and each of the bridge's links a row of `bridge_payload_links`, until they expire;
/// the pruning removes them then. PostgreSQL rather than a shared directory: the cluster needs nothing more than the
/// database it already has, a chunk is written once with the batch and read back by whichever node serves it, and
/// payloads live minutes (Docs/performance.md has the measurements).
extension PostgresHubStore: SharedPayloads {
    package func putPayload(_ payload: SharedPayload) async throws {
        try await ready()
        try await bounded("keep an uploaded file") { [logger] connection in
            try await connection.query(
                """
                INSERT INTO cast_payloads (id, mime_type, file_name, expires_at, bytes)
                VALUES (\(payload.id), \(payload.mimeType), \(payload.fileName), \(payload.expiresAt), \(payload.bytes))
                ON CONFLICT (id) DO NOTHING
                """, logger: logger)
        }
    }

    package func payload(id: String) async throws -> SharedPayload? {
        try await ready()
        return try await bounded("read an uploaded file") { [logger] connection in
            let rows = try await connection.query(
                "SELECT mime_type, file_name, expires_at, bytes FROM cast_payloads WHERE id = \(id) AND expires_at > now()", logger: logger)
            for try await (mime, name, expires, bytes) in rows.decode((String, String, Date, ByteBuffer).self) {
                return SharedPayload(id: id, mimeType: mime, fileName: name, expiresAt: expires, bytes: bytes)
            }
            return nil
        }
    }

    package func putLink(id: String, json: String, expiresAt: Date) async throws {
        try await ready()
        try await bounded("keep a file link") { [logger] connection in
            try await connection.query(
                "INSERT INTO bridge_payload_links (id, file, expires_at) VALUES (\(id), \(json), \(expiresAt)) ON CONFLICT (id) DO NOTHING",
                logger: logger)
        }
    }

    package func link(id: String) async throws -> String? {
        try await ready()
        return try await bounded("read a file link") { [logger] connection in
            let rows = try await connection.query("SELECT file FROM bridge_payload_links WHERE id = \(id) AND expires_at > now()", logger: logger)
            for try await json in rows.decode(String.self) { return json }
            return nil
        }
    }
}
