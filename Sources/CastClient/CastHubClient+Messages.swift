import AsyncHTTPClient
import FHIRcastCore
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import _NIOFileSystem

/// The typed verbs: publish a message, send files from disk, fetch a manifest's file to disk.
extension CastHubClient {
    /// Publishes a message (`POST /api/hub`, JSON).
    public func publish(_ message: CastMessage) async -> PublishOutcome {
        await publish(message.json)
    }

    /// Publishes `message` with `files` as one binary batch, streamed from disk; the manifest (`context.files`) is
    /// written from `files`, over whatever the message's context held under that key.
    public func publish(_ message: CastMessage, files: [CastOutgoingFile], timeout: TimeAmount = .minutes(10)) async -> PublishOutcome {
        var message = message
        var context = message.context.objectValue ?? [:]
        context["files"] = .array(files.map { CastFileEntry(fileName: $0.fileName, mimeType: $0.mimeType, byteLength: $0.byteLength).json })
        message.context = .object(context)
        let body = CastBatchBody(envelope: message.json, files: files)
        return await publishBatch(body.requestBody, contentType: body.contentType, timeout: timeout)
    }

    /// Asks the apps of `topic` for `dataType` (`STATUS`, `SCENEVIEW`…) as `from`, and waits for their answers, at most
    /// `timeoutSeconds` (the hub caps it at 300). `targetActor` and `targetProduct` narrow who is asked; `context` adds
    /// fields to the request's context.
    public func request(
        _ dataType: String, topic: String, from name: String, targetActor: String? = nil, targetProduct: String? = nil,
        timeoutSeconds: Double = 2, context: [String: JSONValue] = [:], id: String = UUID().uuidString.lowercased()
    ) async throws -> CastAnswer {
        var fields = context
        fields["dataType"] = .string(dataType)
        fields["timeoutSeconds"] = .double(timeoutSeconds)
        var body: [String: JSONValue] = [
            "subscriber.name": .string(name), "id": .string(id), "timestamp": .string(Timestamp.format(Date())),
            "event": ["hub.topic": .string(topic), "hub.event": .string("\(dataType.lowercased())-request"), "context": .object(fields)],
        ]
        if let targetActor { body["target.actor"] = .string(targetActor) }
        if let targetProduct { body["target.product.name"] = .string(targetProduct) }
        return CastAnswer(json: try await request(.object(body), timeoutSeconds: timeoutSeconds))
    }

    /// Ends the subscription bound at `endpoint` (`hub.mode=unsubscribe`); the hub tells the topic's other apps.
    /// Closing the socket ends it too, on a Cast hub.
    public func unsubscribe(endpoint: String) async throws {
        _ = try await postForm("\(root)/api/hub", ["hub.mode": "unsubscribe", "hub.channel.endpoint": endpoint], bearer: try await bearer())
    }

    /// A file of a manifest that could not be fetched whole.
    public struct FetchFailed: Error, CustomStringConvertible {
        public var description: String
    }

    /// Writes the file a manifest entry describes to `path` (created or replaced): from the hub's chunks in order,
    /// from its http(s) `url`, or from its inline base64 `data`; checks the declared `byteLength`; refuses more than
    /// `maxBytes`. Returns the number of bytes written.
    @discardableResult
    public nonisolated func fetch(_ entry: CastFileEntry, to path: String, maxBytes: Int = 1 << 40, http: HTTPClient = .shared) async throws -> Int {
        if let declared = entry.byteLength, declared > maxBytes {
            throw FetchFailed(description: "\(entry.fileName ?? "a file") is \(declared) bytes, over the limit of \(maxBytes)")
        }
        let written = try await FileSystem.shared.withFileHandle(forWritingAt: FilePath(path), options: .newFile(replaceExisting: true)) { handle in
            var writer = handle.bufferedWriter()
            var count = 0
            func take(_ piece: ByteBuffer) async throws {
                count += piece.readableBytes
                guard count <= maxBytes else { throw FetchFailed(description: "\(entry.fileName ?? "a file") is over the limit of \(maxBytes) bytes") }
                try await writer.write(contentsOf: piece)
            }
            if let data = entry.data, !data.isEmpty {
                guard let bytes = Data(base64Encoded: data, options: .ignoreUnknownCharacters) else {
                    throw FetchFailed(description: "\(entry.fileName ?? "a file")'s data is not base64")
                }
                try await take(ByteBuffer(data: bytes))
            } else if !entry.payloadIDs.isEmpty {
                for id in entry.payloadIDs {
                    guard try await readPayload(id, into: take) else {
                        throw FetchFailed(description: "the Cast hub no longer has \(entry.fileName ?? "a file") (payload \(id.prefix(8))… unknown or expired)")
                    }
                }
            } else if let url = entry.url, url.hasPrefix("http://") || url.hasPrefix("https://") {
                let response = try await http.execute(HTTPClientRequest(url: url), timeout: .minutes(10))
                guard response.status == .ok else { throw FetchFailed(description: "\(url) answered \(response.status.code)") }
                for try await piece in response.body { try await take(piece) }
            } else {
                throw FetchFailed(description: "\(entry.fileName ?? "a file") has no payloadIds, no http(s) url and no data")
            }
            try await writer.flush()
            return count
        }
        if let declared = entry.byteLength, declared != written {
            throw FetchFailed(description: "\(entry.fileName ?? "a file") came with \(written) bytes, not the \(declared) announced")
        }
        return written
    }
}
