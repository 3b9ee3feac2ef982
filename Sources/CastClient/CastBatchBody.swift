import AsyncHTTPClient
import FHIRcastCore
import Foundation
import NIOCore
import _NIOFileSystem

/// A binary batch (cast-protocol.md §4.1) streamed from disk: the envelope as `application/dicom+json`, then one
/// part per file, read a MiB at a time while the upload goes, so a batch of any size takes a MiB of memory.
public struct CastBatchBody: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    fileprivate enum Segment: Sendable {
        case bytes(ByteBuffer)
        case file(path: String, size: Int)
    }

    private let segments: [Segment]
    /// The exact length of the body.
    public let length: Int
    /// `multipart/related; boundary=…; type="application/dicom"`.
    public let contentType: String

    /// - Parameter envelope: the message whose `context.files` is the manifest of `files`, in the same order.
    public init(envelope: JSONValue, files: [CastOutgoingFile]) {
        let boundary = "castclient-" + UUID().uuidString.lowercased()
        var segments: [Segment] = [.bytes(ByteBuffer(string: "--\(boundary)\r\nContent-Type: application/dicom+json\r\n\r\n")), .bytes(ByteBuffer(bytes: envelope.jsonBytes))]
        for file in files {
            segments.append(.bytes(ByteBuffer(string: "\r\n--\(boundary)\r\nContent-Type: \(file.mimeType)\r\n\r\n")))
            segments.append(.file(path: file.path, size: file.byteLength))
        }
        segments.append(.bytes(ByteBuffer(string: "\r\n--\(boundary)--\r\n")))
        self.segments = segments
        self.length = segments.reduce(0) { total, segment in
            switch segment {
            case .bytes(let b): total + b.readableBytes
            case .file(_, let size): total + size
            }
        }
        self.contentType = "multipart/related; boundary=\(boundary); type=\"application/dicom\""
    }

    /// The request body, with its length known.
    public var requestBody: HTTPClientRequest.Body { .stream(self, length: .known(Int64(length))) }

    public struct FileChanged: Error, CustomStringConvertible {
        public var description: String
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let segments: [Segment]
        fileprivate var index = 0
        fileprivate var offset = 0

        public mutating func next() async throws -> ByteBuffer? {
            while index < segments.count {
                switch segments[index] {
                case .bytes(let bytes):
                    index += 1
                    return bytes
                case .file(let path, let size):
                    guard offset < size else {
                        index += 1
                        offset = 0
                        continue
                    }
                    let at = Int64(offset)
                    let wanted = Swift.min(1 << 20, size - offset)
                    let chunk = try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(path)) { handle in
                        try await handle.readChunk(fromAbsoluteOffset: at, length: .bytes(Int64(wanted)))
                    }
                    guard chunk.readableBytes > 0 else { throw FileChanged(description: "\(path) is shorter than the \(size) bytes announced") }
                    offset += chunk.readableBytes
                    return chunk
                }
            }
            return nil
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(segments: segments) }
}
