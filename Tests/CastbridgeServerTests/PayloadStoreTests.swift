import Foundation
import Logging
import NIOCore
import Testing

@testable import CastbridgeServer
@testable import CastService

@Suite("Payload chunks on disk")
struct PayloadStoreTests {
    /// What a bridge upload cut off by shutdown does: its task is cancelled with chunk files open.
    @Test("An upload whose task is cancelled closes and deletes its chunk files (NIOFileSystem refuses work in a cancelled task)")
    func cancelledUpload() async throws {
        let store = try await PayloadStore.temporary(config: ServerConfiguration().castService(), logger: Logger(label: "test"))
        let directory = await String(describing: store.directory)
        let (openedChunks, leftChunks) = await Task {
            var writer = ChunkWriter(store: store, chunkBytes: 4)
            try? await writer.write(ByteBuffer(string: "0123456789"))
            let opened = writer.chunks.count
            withUnsafeCurrentTask { $0?.cancel() }
            // A write in the cancelled task fails; the batch then aborts, as CastUpload does.
            await #expect(throws: (any Error).self) { try await writer.write(ByteBuffer(string: "more")) }
            await writer.abort()
            return (opened, writer.chunks.count)
        }.value
        #expect(openedChunks == 3)
        #expect(leftChunks == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        await store.removeAll()
    }

    @Test("A finished upload keeps its chunks, each at most chunkBytes, in order")
    func finishedUpload() async throws {
        let store = try await PayloadStore.temporary(config: ServerConfiguration().castService(), logger: Logger(label: "test"))
        var writer = ChunkWriter(store: store, chunkBytes: 4)
        try await writer.write(ByteBuffer(string: "01234"))
        try await writer.write(ByteBuffer(string: "56789"))
        try await writer.finish()
        #expect(writer.chunks.map(\.size) == [4, 4, 2])
        let bytes = try writer.chunks.map { try String(contentsOfFile: String(describing: $0.path), encoding: .utf8) }.joined()
        #expect(bytes == "0123456789")
        await store.removeAll()
    }
}
