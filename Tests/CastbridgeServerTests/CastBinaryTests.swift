import AsyncHTTPClient
import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// Binary batches on the embedded Cast hub (cast-protocol.md §4.1), with real uploads and downloads.
@Suite("Embedded Cast hub binary (live)")
struct CastBinaryTests {
    static let boundary = "castbridge-test-boundary"

    static func batch(_ envelope: JSONValue, parts: [(type: String, bytes: [UInt8])]) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeString("--\(boundary)\r\nContent-Type: application/dicom+json\r\n\r\n")
        body.writeBytes(try! JSONEncoder().encode(envelope))
        for part in parts {
            body.writeString("\r\n--\(boundary)\r\nContent-Type: \(part.type)\r\n\r\n")
            body.writeBytes(part.bytes)
        }
        body.writeString("\r\n--\(boundary)--\r\n")
        return body
    }

    static func upload(_ server: TestServer, _ body: ByteBuffer, type: String = "multipart/related; boundary=\(boundary); type=\"application/dicom\"") async throws -> TestServer.HTTPResult {
        var request = HTTPClientRequest(url: "\(server.base)/api/hub")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: type)
        request.body = .bytes(body)
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return TestServer.HTTPResult(status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type") ?? "", body: String(buffer: bytes))
    }

    static func download(_ server: TestServer, _ id: String) async throws -> (Int, [UInt8], HTTPHeaders) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(server.base)/api/hub/payloads/\(id)"), timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return (Int(response.status.code), Array(bytes.readableBytesView), response.headers)
    }

    static func envelope(_ files: [JSONValue], topic: String = "T") -> JSONValue {
        ["subscriber.name": "Slicer", "event": ["hub.topic": .string(topic), "hub.event": "dicom-send", "context": ["files": .array(files)]]]
    }

    /// Random bytes, 8 at a time (a byte at a time is slow in debug builds at several MiB).
    static func randomBytes(_ n: Int) -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        var words = [UInt64](repeating: 0, count: (n + 7) / 8)
        for i in words.indices { words[i] = rng.next() }
        return words.withUnsafeBytes { Array($0.prefix(n)) }
    }

    @Test("A batch with a multi-chunk file, a small file and a url entry round-trips byte for byte")
    func roundTrip() async throws {
        try await TestServer.with({ $0.castPayloadChunkBytes = 1 << 20 }) { server in
            let (viewer, _) = try await server.castSubscriber(topic: "T", events: "dicom-send", name: "Viewer")
            let big = Self.randomBytes(2_621_440 + 17)  // 2.5 MiB + 17: three chunks of at most 1 MiB
            let small = Self.randomBytes(4037)
            let files: [JSONValue] = [
                ["fileName": "series.dcm", "byteLength": .int(Int64(big.count)), "mimeType": "application/dicom", "dicomMetadata": ["00080060": ["vr": "CS", "Value": ["CT"]]]],
                ["fileName": "remote.dcm", "url": "https://pacs.example.org/a.dcm", "mimeType": "application/dicom"],
                ["fileName": "thumb.png", "byteLength": .int(Int64(small.count)), "mimeType": "image/png"],
            ]
            let result = try await Self.upload(server, Self.batch(Self.envelope(files), parts: [("application/dicom", big), ("image/png", small)]))
            #expect(result.status == 200)
            #expect(result.body.contains("received"))
            let frame = try #require(try await viewer.nextJSON())
            let entries = try #require(frame["event"]?["context"]?["files"]?.arrayValue)
            #expect(entries.count == 3)
            let bigEntry = entries[0]
            #expect(bigEntry["payloadIds"]?.arrayValue?.count == 3)
            #expect(bigEntry["chunkByteLengths"] == [1_048_576, 1_048_576, 524_305])
            #expect(bigEntry["byteLength"] == .int(Int64(big.count)))
            #expect(bigEntry["expiresAt"]?.stringValue?.hasSuffix("Z") == true)
            #expect(bigEntry["dicomMetadata"] != nil)
            #expect(entries[1]["url"] == "https://pacs.example.org/a.dcm")
            #expect(entries[1]["payloadIds"] == nil)
            var reassembled: [UInt8] = []
            for id in bigEntry["payloadIds"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
                let (status, bytes, headers) = try await Self.download(server, id)
                #expect(status == 200)
                #expect(headers.first(name: "Cache-Control") == "no-store")
                #expect(headers.first(name: "Content-Disposition")?.contains("series.dcm") == true)
                #expect(headers.first(name: "Content-Type") == "application/dicom")
                reassembled += bytes
            }
            #expect(reassembled == big)
            let smallID = try #require(entries[2]["payloadIds"]?.arrayValue?.first?.stringValue)
            #expect(try await Self.download(server, smallID).1 == small)
        }
    }

    @Test("Errors: byteLength mismatch, too few parts, bad file names, form-data, missing boundary — 400 and nothing published")
    func errors() async throws {
        try await TestServer.with { server in
            let (viewer, _) = try await server.castSubscriber(topic: "T", events: "dicom-send", name: "Viewer")
            let bytes = Self.randomBytes(100)
            let mismatch = try await Self.upload(server, Self.batch(Self.envelope([["fileName": "a.dcm", "byteLength": 99]]), parts: [("application/dicom", bytes)]))
            #expect(mismatch.status == 400)
            #expect(mismatch.body.contains("byteLength"))
            let short = try await Self.upload(server, Self.batch(Self.envelope([["fileName": "a.dcm", "byteLength": 100], ["fileName": "b.dcm", "byteLength": 1]]), parts: [("application/dicom", bytes)]))
            #expect(short.status == 400)
            let tooMany = try await Self.upload(server, Self.batch(Self.envelope([["fileName": "a.dcm", "byteLength": 100]]), parts: [("application/dicom", bytes), ("application/dicom", bytes)]))
            #expect(tooMany.status == 400)
            let badName = try await Self.upload(server, Self.batch(Self.envelope([["fileName": "run.sh.dcm", "byteLength": 100]]), parts: [("application/dicom", bytes)]))
            #expect(badName.status == 400)
            #expect(badName.json?["detail"]?["code"] == "double_extension")
            let badType = try await Self.upload(server, Self.batch(Self.envelope([["fileName": "a.dcm", "byteLength": 100]]), parts: [("text/html", bytes)]))
            #expect(badType.status == 400)
            let formData = try await Self.upload(server, ByteBuffer(string: "x"), type: "multipart/form-data; boundary=x")
            #expect(formData.status == 400)
            let noBoundary = try await Self.upload(server, ByteBuffer(string: "x"), type: "multipart/related")
            #expect(noBoundary.status == 400)
            let garbage = try await Self.upload(server, ByteBuffer(string: "this is not multipart"))
            #expect(garbage.status == 400)
            #expect(await viewer.expectSilence(.milliseconds(300)) == nil)
            #expect(try await Self.download(server, "not-a-payload").0 == 404)
        }
    }

    @Test("Payloads expire after the TTL (404); over the store cap the batch still goes out, as metadata only")
    func expiryAndCap() async throws {
        try await TestServer.with({
            // Long enough for the first download under a loaded test run, short enough to wait out.
            $0.castPayloadTTLSeconds = 2
            $0.castPayloadMaxTotalBytes = 1000
        }) { server in
            let (viewer, _) = try await server.castSubscriber(topic: "T", events: "dicom-send", name: "Viewer")
            let small = Self.randomBytes(500)
            _ = try await Self.upload(server, Self.batch(Self.envelope([["fileName": "a.dcm", "byteLength": 500]]), parts: [("application/dicom", small)]))
            let stored = try #require(try await viewer.nextJSON())
            let id = try #require(stored["event"]?["context"]?["files"]?.arrayValue?.first?["payloadIds"]?.arrayValue?.first?.stringValue)
            #expect(try await Self.download(server, id).0 == 200)
            let big = Self.randomBytes(2000)
            let over = try await Self.upload(server, Self.batch(Self.envelope([["fileName": "b.dcm", "byteLength": 2000]]), parts: [("application/dicom", big)]))
            #expect(over.status == 200)
            let metadataOnly = try #require(try await viewer.nextJSON())
            let entry = metadataOnly["event"]?["context"]?["files"]?.arrayValue?.first
            #expect(entry?["payloadIds"] == nil)
            #expect(entry?["byteLength"] == 2000)
            try await Task.sleep(for: .milliseconds(2600))
            let expired = try await Self.download(server, id)
            #expect(expired.0 == 404)
            #expect(String(decoding: expired.1, as: UTF8.self).contains("payload not found or expired"))
        }
    }
}
