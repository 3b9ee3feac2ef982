import ServiceSupport
import CastCore
import FHIRcastCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import _NIOFileSystem

/// `POST /api/hub` with `multipart/related` (cast-protocol.md §4.1): the JSON envelope first, then one part per
/// manifest entry without a url. Bytes stream from the request to the payload store; the batch is published only
/// when every part checked out, otherwise its stored chunks are deleted and nothing is published.
package struct CastUpload {
    package let store: PayloadStore
    package let maxManifestBytes: Int
    /// Over the store's cap, refuse the batch (507, or 413 when it could never fit) instead of fanning it out as
    /// metadata only, as the reference does for clients. The bridge asks for this: it keeps the event and sends it
    /// again when there is room, so no file is lost on the way.
    package var refuseWhenFull = false

    package init(store: PayloadStore, maxManifestBytes: Int, refuseWhenFull: Bool = false) {
        self.store = store
        self.maxManifestBytes = maxManifestBytes
        self.refuseWhenFull = refuseWhenFull
    }

    package static func boundary(of contentType: String) -> String? {
        MultipartReader.boundary(ofContentType: contentType)
    }

    /// Reads, checks and stores the batch; returns the envelope to publish.
    package func receive(_ body: RequestBody, contentType: String) async throws(CastError) -> JSONValue {
        guard contentType.lowercased().hasPrefix("multipart/related") else {
            throw CastError(400, "Binary batches must be multipart/related; multipart/form-data is not accepted")
        }
        guard let boundary = Self.boundary(of: contentType) else {
            throw CastError(400, "multipart/related needs a boundary parameter")
        }
        var reader: MultipartReader
        do { reader = try MultipartReader(boundary: boundary) } catch { throw CastError(400, "malformed multipart body: \(error)") }
        var batch = Batch(store: store, maxManifestBytes: maxManifestBytes, refuseWhenFull: refuseWhenFull)
        var received = 0
        do {
            do {
                for try await chunk in body {
                    received += chunk.readableBytes
                    let events = try chunk.withUnsafeReadableBytes { bytes throws(MultipartError) in try reader.feed(bytes) }
                    for event in events {
                        switch event {
                        case .partBegin: try batch.begin()
                        case .header(let name, let value): try await batch.header(name, value)
                        case .body(let range):
                            guard let slice = chunk.getSlice(at: chunk.readerIndex + range.lowerBound, length: range.count) else {
                                throw CastError(500, "multipart reader reported bytes outside its chunk")
                            }
                            try await batch.body(slice)
                        case .heldBody(let bytes): try await batch.body(ByteBuffer(bytes: bytes))
                        case .partEnd: try await batch.endPart()
                        }
                    }
                }
                guard received > 0 else { throw CastError(400, "multipart/related body is empty") }
                try reader.finish()
            } catch let error as CastError {
                throw error
            } catch let error as MultipartError {
                // The reference's words when no part could be read at all.
                if batch.part < 0 { throw CastError(400, "multipart/related has no parts: \(error.message)") }
                throw CastError(400, "malformed multipart body: \(error.message)")
            } catch {
                throw CastError(400, "the multipart body could not be read: \(error)")
            }
            return try await batch.finish()
        } catch let error as CastError {
            await batch.abort()
            throw error
        } catch {
            await batch.abort()
            throw CastError(500, "could not store the upload")
        }
    }

    /// The state of one batch as its parts arrive.
    private struct Batch {
        let store: PayloadStore
        let maxManifestBytes: Int
        let refuseWhenFull: Bool
        var part = -1
        var inPart = false
        var partType: String?
        var manifestBytes = ByteBuffer()
        var manifest: CastBinaryManifest?
        var reserved = 0
        var storing = false
        var fileIndex = 0
        var partBytes = 0
        var writer: ChunkWriter?
        var sizes: [Int: Int] = [:]
        var done: [Int: [(id: String, path: FilePath, size: Int)]] = [:]

        init(store: PayloadStore, maxManifestBytes: Int, refuseWhenFull: Bool) {
            self.store = store
            self.maxManifestBytes = maxManifestBytes
            self.refuseWhenFull = refuseWhenFull
        }

        mutating func begin() throws(CastError) {
            guard !inPart else { return }
            inPart = true
            part += 1
            partType = nil
            partBytes = 0
            guard part > 0 else { return }
            guard let manifest else { throw CastError(400, "The first part must be the JSON publish envelope") }
            let uploads = manifest.uploadIndices
            // A part beyond the manifest is read and dropped, so that the count in the answer is the real one.
            guard part - 1 < uploads.count else {
                fileIndex = -1
                writer = nil
                return
            }
            fileIndex = uploads[part - 1]
            writer = storing ? ChunkWriter(store: store, chunkBytes: store.chunkBytes) : nil
        }

        mutating func header(_ name: String, _ value: String) async throws {
            try begin()
            switch name.lowercased() {
            case "content-type":
                partType = value
            case "content-transfer-encoding" where !["7bit", "8bit", "binary"].contains(value.lowercased()):
                // The reference's email parser would decode base64 or quoted-printable; storing the encoded text as the
                // file would corrupt it, so it is refused with the reason instead (Docs/cast-hub.md).
                throw CastError(400, "binary batch publish part \(part) uses Content-Transfer-Encoding '\(value)'; send the bytes as they are (binary)")
            default:
                break
            }
        }

        mutating func body(_ buffer: ByteBuffer) async throws {
            try begin()
            if part == 0 {
                guard manifestBytes.readableBytes + buffer.readableBytes <= maxManifestBytes else {
                    throw CastError(413, "the JSON part of the batch is larger than \(maxManifestBytes) bytes")
                }
                var b = buffer
                manifestBytes.writeBuffer(&b)
                return
            }
            guard let manifest, manifest.files.indices.contains(fileIndex) else { return }  // an extra part
            partBytes += buffer.readableBytes
            if let declared = manifest.files[fileIndex].byteLength, partBytes > declared {
                // Refused as soon as it is too long, rather than stored to the end.
                throw CastError(400, "binary batch publish file \(fileIndex) size \(partBytes) does not match context.files[\(fileIndex)].byteLength \(declared)")
            }
            try await writer?.write(buffer)
        }

        mutating func endPart() async throws {
            try begin()
            inPart = false
            if part == 0 {
                let type = CastBinaryManifest.mediaType(partType)
                guard type.contains("json") else {
                    throw CastError(400, "binary batch publish first part must be JSON (application/dicom+json); got '\(type)'")
                }
                guard manifestBytes.readableBytes > 0 else { throw CastError(400, "binary batch publish JSON part is empty") }
                let json: JSONValue
                do { json = try JSONBody.decode(manifestBytes) } catch {
                    throw CastError(400, "binary batch publish JSON part is not valid JSON")
                }
                let parsed = try CastBinaryManifest.parse(json)
                manifest = parsed
                reserved = parsed.declaredBytes
                storing = await store.reserve(reserved)
                if !storing {
                    let wanted = reserved
                    reserved = 0
                    if refuseWhenFull {
                        guard wanted <= store.capBytes else {
                            throw CastError(413, "the batch holds \(wanted) bytes, more than the Cast payload store's cap of \(store.capBytes)")
                        }
                        throw CastError(507, "the Cast payload store is full: \(wanted) bytes do not fit under its cap of \(store.capBytes) now")
                    }
                }
                return
            }
            guard let manifest, manifest.files.indices.contains(fileIndex) else { return }  // an extra part
            let file = manifest.files[fileIndex]
            let index = part - 1
            guard partBytes > 0 else { throw CastError(400, "binary batch publish file part \(index) is empty") }
            guard CastBinaryManifest.acceptsPartType(partType, for: file) else {
                let expected = CastBinaryManifest.expectedType(for: file)
                throw CastError(
                    400,
                    "binary batch publish file part \(index) has unsupported Content-Type '\(CastBinaryManifest.mediaType(partType))' (expected \(expected.isEmpty ? "application/dicom" : expected))")
            }
            if let declared = file.byteLength, partBytes != declared {
                throw CastError(400, "binary batch publish file \(fileIndex) size \(partBytes) does not match context.files[\(fileIndex)].byteLength \(declared)")
            }
            sizes[fileIndex] = partBytes
            if var w = writer {
                try await w.finish()
                done[fileIndex] = w.chunks
                writer = nil
            }
        }

        /// All parts arrived: registers the chunks and returns the envelope to fan out.
        mutating func finish() async throws -> JSONValue {
            guard let manifest else { throw CastError(400, "multipart/related has no parts") }
            guard !inPart else { throw CastError(400, "The multipart body ended inside a part") }
            let expected = manifest.uploadIndices.count
            guard part == expected else {
                throw CastError(400, "binary batch publish expects \(expected) file part(s) after JSON (files without HTTP URL), got \(max(part, 0))")
            }
            let expiresAt = Date().addingTimeInterval(store.ttl)
            var stored: [Int: CastBinaryManifest.Stored] = [:]
            for (index, chunks) in done {
                let file = manifest.files[index]
                for c in chunks {
                    try await store.register(
                        id: c.id,
                        entry: .init(
                            path: c.path, size: c.size, mimeType: file.mimeType ?? "application/octet-stream",
                            fileName: file.fileName, expiresAt: expiresAt))
                }
                stored[index] = .init(
                    payloadIds: chunks.map(\.id), chunkByteLengths: chunks.map(\.size),
                    byteLength: chunks.reduce(0) { $0 + $1.size }, expiresAt: Timestamp.format(expiresAt))
            }
            done.removeAll()
            reserved = 0
            return manifest.rewritten(uploaded: sizes, stored: stored)
        }

        mutating func abort() async {
            await writer?.abort()
            writer = nil
            await ChunkWriter.remove(done.values.flatMap { $0.map(\.path) })
            done.removeAll()
            if reserved > 0 { await store.release(reserved) }
            reserved = 0
        }
    }
}
