import Foundation
import NIOCore

/// Where a cluster keeps what any node must serve of a binary batch: the embedded Cast hub's uploaded chunks
/// (`GET /api/hub/payloads/{id}`) and the bridge's links to them (`GET /fhircast/payloads/{id}`), each until it expires.
/// The PostgreSQL store is one (chunks as `bytea` rows); a single node serves its own.
package protocol SharedPayloads: Sendable {
    func putPayload(_ payload: SharedPayload) async throws
    func payload(id: String) async throws -> SharedPayload?
    /// A link of the bridge's: what it points at, as JSON.
    func putLink(id: String, json: String, expiresAt: Date) async throws
    func link(id: String) async throws -> String?
}

/// One stored chunk with what its download needs.
package struct SharedPayload: Sendable {
    package var id: String
    package var mimeType: String
    package var fileName: String
    package var expiresAt: Date
    package var bytes: ByteBuffer

    package init(id: String, mimeType: String, fileName: String, expiresAt: Date, bytes: ByteBuffer) {
        self.id = id
        self.mimeType = mimeType
        self.fileName = fileName
        self.expiresAt = expiresAt
        self.bytes = bytes
    }
}
