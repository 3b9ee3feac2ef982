import ServiceSupport
import CastCore
import Foundation
import Logging
import NIOCore
import _NIOFileSystem

/// Uploaded file bytes of Cast binary batches, on disk in chunks of at most `chunkBytes`, each downloadable by its
/// payload id until the TTL ends (cast-protocol.md §4.1). Memory stays flat whatever the size: bytes go from the
/// request body to disk and from disk to the response in small pieces.
package actor PayloadStore {
    package struct Entry: Sendable {
        package var path: FilePath
        package var size: Int
        package var mimeType: String
        package var fileName: String
        package var expiresAt: Date
    }

    package let directory: FilePath
    package let chunkBytes: Int
    package let ttl: TimeInterval
    package let capBytes: Int
    private let logger: Logger
    /// In a cluster, where every chunk is also kept so that any node serves it.
    package let shared: (any SharedPayloads)?
    private var entries: [String: Entry] = [:]
    /// Bytes stored or reserved by uploads in progress.
    private var usedBytes = 0

    package init(
        directory: FilePath, chunkBytes: Int, ttl: TimeInterval, capBytes: Int, logger: Logger, shared: (any SharedPayloads)? = nil
    ) {
        self.shared = shared
        self.directory = directory
        self.chunkBytes = max(chunkBytes, 1)
        self.ttl = ttl
        self.capBytes = capBytes
        self.logger = logger
    }

    /// A fresh store in a new directory under the system's temporary directory (`TMPDIR`, else `/tmp`).
    package static func temporary(
        config: CastServiceConfiguration, logger: Logger, shared: (any SharedPayloads)? = nil
    ) async throws -> PayloadStore {
        let temp = try await FileSystem.shared.temporaryDirectory
        let dir = try await FileSystem.shared.createTemporaryDirectory(template: temp.appending("castbridge-payloads-XXXXXX"))
        return PayloadStore(
            directory: dir, chunkBytes: config.castPayloadChunkBytes, ttl: config.castPayloadTTLSeconds,
            capBytes: config.castPayloadMaxTotalBytes, logger: logger, shared: shared)
    }

    /// Reserves room for an upload; false when it would pass the cap (the batch then goes out as metadata only).
    /// Bytes of payloads held now (`castbridge_payload_store_bytes`).
    package var heldBytes: Int { usedBytes }

    package func reserve(_ bytes: Int) -> Bool {
        // `bytes` is what a client declared: compared without adding, so that no size can overflow.
        guard bytes >= 0, bytes <= capBytes - usedBytes else { return false }
        usedBytes += bytes
        return true
    }

    package func release(_ bytes: Int) { usedBytes = max(0, usedBytes - bytes) }

    /// Makes a written chunk downloadable; in a cluster it is copied to the shared store first, so that a download
    /// through any node finds it once the batch is published.
    package func register(id: String, entry: Entry) async throws(CastError) {
        if let shared {
            do {
                let bytes = try await FileSystem.shared.withFileHandle(forReadingAt: entry.path) { handle in
                    try await handle.readToEnd(maximumSizeAllowed: .bytes(Int64(max(entry.size, 1))))
                }
                try await shared.putPayload(
                    SharedPayload(id: id, mimeType: entry.mimeType, fileName: entry.fileName, expiresAt: entry.expiresAt, bytes: bytes))
            } catch {
                logger.warning("a Cast payload chunk could not be shared with the cluster", metadata: ["error": "\(error)"])
                throw CastError(503, "the uploaded files could not be stored for the cluster: \(error)")
            }
        }
        entries[id] = entry
    }

    package func lookup(_ id: String) -> Entry? {
        guard let entry = entries[id], entry.expiresAt > Date() else { return nil }
        return entry
    }

    /// Where a chunk is: on this node's disk, or (uploaded through another node of a cluster) in the shared store.
    package enum Found: Sendable {
        case local(Entry)
        case shared(SharedPayload)
    }

    package func find(_ id: String) async throws -> Found? {
        if let entry = lookup(id) { return .local(entry) }
        guard let shared, let payload = try await shared.payload(id: id), payload.expiresAt > Date() else { return nil }
        return .shared(payload)
    }

    /// Deletes what has expired and gives its room back.
    package func reap() async {
        let now = Date()
        let expired = entries.filter { $0.value.expiresAt <= now }
        for (id, entry) in expired {
            entries.removeValue(forKey: id)
            usedBytes = max(0, usedBytes - entry.size)
            _ = try? await FileSystem.shared.removeItem(at: entry.path)
        }
        if !expired.isEmpty { logger.debug("payloads expired", metadata: ["count": "\(expired.count)"]) }
    }

    /// Removes everything (shutdown).
    package func removeAll() async {
        entries.removeAll()
        usedBytes = 0
        _ = try? await FileSystem.shared.removeItem(at: directory, recursively: true)
    }

    package nonisolated func newPath(_ id: String) -> FilePath { directory.appending(id) }

    /// A 32-byte url-safe token, as the reference's payload ids.
    package nonisolated static func newID() -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// Writes one uploaded file into chunk files of at most `chunkBytes` as its bytes arrive.
package struct ChunkWriter {
    package let store: PayloadStore
    package let chunkBytes: Int
    private(set) var chunks: [(id: String, path: FilePath, size: Int)] = []
    private var handle: WriteFileHandle?
    private var written = 0

    package init(store: PayloadStore, chunkBytes: Int) {
        self.store = store
        self.chunkBytes = chunkBytes
    }

    package var totalBytes: Int { chunks.reduce(0) { $0 + $1.size } }

    package mutating func write(_ buffer: ByteBuffer) async throws {
        var buffer = buffer
        while buffer.readableBytes > 0 {
            if handle == nil || written == chunkBytes { try await startChunk() }
            let take = min(buffer.readableBytes, chunkBytes - written)
            let slice = buffer.readSlice(length: take)!
            try await handle!.write(contentsOf: slice.readableBytesView, toAbsoluteOffset: Int64(written))
            written += take
            chunks[chunks.count - 1].size = written
        }
    }

    private mutating func startChunk() async throws {
        if let handle {
            self.handle = nil
            try await Self.uncancelled { try await handle.close(makeChangesVisible: true) }
        }
        let id = PayloadStore.newID()
        let path = store.newPath(id)
        handle = try await FileSystem.shared.openFile(forWritingAt: path, options: .newFile(replaceExisting: true))
        written = 0
        chunks.append((id, path, 0))
    }

    /// Closes the last chunk; an empty file still gets one (empty) chunk.
    package mutating func finish() async throws {
        if handle == nil { try await startChunk() }
        guard let handle else { return }
        self.handle = nil
        try await Self.uncancelled { try await handle.close(makeChangesVisible: true) }
    }

    /// Closes and deletes everything written (a failed batch leaves nothing behind), also in a cancelled task.
    package mutating func abort() async {
        let (handle, paths) = (self.handle, chunks.map(\.path))
        self.handle = nil
        chunks.removeAll()
        try? await Self.uncancelled { try await handle?.close(makeChangesVisible: false) }
        await Self.remove(paths)
    }

    /// Deletes chunk files, also in a cancelled task.
    package static func remove(_ paths: [FilePath]) async {
        try? await uncancelled {
            for path in paths { _ = try? await FileSystem.shared.removeItem(at: path) }
        }
    }

    /// Runs file-system work to its end even when the calling task is cancelled (a bridge upload cut off by shutdown,
    /// a request whose client went away). NIOFileSystem refuses work in a cancelled task without doing it, and a
    /// handle it did not close is a fatal error once dropped; so this work runs in a task of its own, which the
    /// caller's cancellation does not reach, and the caller waits for it.
    private static func uncancelled(_ work: @escaping @Sendable () async throws -> Void) async throws {
        try await Task { try await work() }.value
    }
}
