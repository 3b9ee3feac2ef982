import AsyncHTTPClient
import BridgeCore
import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// Cast binary events reaching FHIRcast apps as FHIR Attachments served by castbridge (issue #5, Cast → FHIRcast).
@Suite("Bridge binary, Cast → FHIRcast (live)")
struct BridgeBinaryTests {
    static func fetch(_ url: String) async throws -> (Int, [UInt8], String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return (Int(response.status.code), Array(bytes.readableBytesView), response.headers.first(name: "Content-Type") ?? "")
    }

    static func attachments(_ event: JSONValue) -> [JSONValue] {
        (event["event"]?["context"]?.arrayValue ?? []).filter { $0["key"] == "file" }.compactMap { $0["attachment"] }
    }

    @Test("A dicom-send batch (multi-chunk > 4 MiB, small, empty, url) reaches FHIRcast as attachments; each url serves the bytes exactly")
    func roundTrip() async throws {
        try await TestServer.with({ BridgeTests.bridged(&$0) }) { server in
            try await BridgeTests.waitForBridge(server)
            let ehr = try await server.subscriber(topic: "T", events: "org.castbridge.dicom_send", name: "EHR")
            let big = CastBinaryTests.randomBytes((5 << 20) + 123)  // two chunks of the default 4 MiB
            let small = CastBinaryTests.randomBytes(4037)
            let files: [JSONValue] = [
                ["fileName": "series.dcm", "byteLength": .int(Int64(big.count)), "mimeType": "application/dicom", "dicomMetadata": ["00080060": ["vr": "CS", "Value": ["CT"]]]],
                ["fileName": "small.dcm", "byteLength": .int(Int64(small.count)), "mimeType": "application/dicom"],
                ["fileName": "empty.nii.gz", "byteLength": 0, "mimeType": "application/octet-stream"],
                ["fileName": "remote.dcm", "url": "https://pacs.example.org/a.dcm", "mimeType": "application/dicom"],
            ]
            let body = CastBinaryTests.batch(CastBinaryTests.envelope(files), parts: [("application/dicom", big), ("application/dicom", small), ("application/octet-stream", [])])
            #expect(try await CastBinaryTests.upload(server, body).status == 200)
            let event = try #require(try await ehr.socket.nextJSON(timeout: .seconds(20)))
            #expect(event["event"]?["hub.event"] == "org.castbridge.dicom_send")
            let found = Self.attachments(event)
            #expect(found.map { $0["title"] } == ["series.dcm", "small.dcm", "empty.nii.gz", "remote.dcm"])
            for (attachment, bytes) in zip(found.prefix(3), [big, small, []]) {
                #expect(attachment["size"] == .int(Int64(bytes.count)))
                #expect(attachment["hash"] == .string(Attachments.sha1(bytes)))
                let url = try #require(attachment["url"]?.stringValue)
                #expect(url.hasPrefix("\(server.base)/fhircast/payloads/"))
                let (status, got, type) = try await Self.fetch(url)
                #expect(status == 200)
                #expect(got == bytes)
                #expect(type == attachment["contentType"]?.stringValue)
            }
            #expect(found[3]["url"] == "https://pacs.example.org/a.dcm")
            #expect(found[3]["hash"] == nil)
            // dicomMetadata travels with the Cast context in the castbridge extension.
            let ext = event["event"]?["context"]?.arrayValue?.last?["data"]?["org.castbridge.cast"]
            #expect(ext?["context"]?["files"]?.arrayValue?.first?["dicomMetadata"]?["00080060"]?["Value"] == ["CT"])
        }
    }

    @Test("Inline mode: files up to binary.inlineMaxBytes also carry base64 data; larger ones only a url")
    func inline() async throws {
        var mappings = try MappingFile.load([("default.yaml", DefaultMappings.yaml), ("binary.yaml", "binary: {inlineMaxBytes: 1000}")]).get()
        mappings.unmappedFHIRcast = .lowercase
        try await TestServer.with({ BridgeTests.bridged(&$0); $0.mappings = mappings }) { server in
            try await BridgeTests.waitForBridge(server)
            let ehr = try await server.subscriber(topic: "T", events: "org.castbridge.dicom_send", name: "EHR")
            let tiny = CastBinaryTests.randomBytes(600)
            let larger = CastBinaryTests.randomBytes(1500)
            let files: [JSONValue] = [
                ["fileName": "tiny.dcm", "byteLength": 600, "mimeType": "application/dicom"],
                ["fileName": "larger.dcm", "byteLength": 1500, "mimeType": "application/dicom"],
            ]
            _ = try await CastBinaryTests.upload(server, CastBinaryTests.batch(CastBinaryTests.envelope(files), parts: [("application/dicom", tiny), ("application/dicom", larger)]))
            let event = try #require(try await ehr.socket.nextJSON(timeout: .seconds(10)))
            let found = Self.attachments(event)
            #expect(found.first?["data"] == .string(Data(tiny).base64EncodedString()))
            #expect(found.last?["data"] == nil)
            #expect(found.last?["url"] != nil)
        }
    }

    @Test("An expired payload is a 404 that says so; an unknown one too")
    func expiry() async throws {
        try await TestServer.with({ BridgeTests.bridged(&$0); $0.castPayloadTTLSeconds = 0.6 }) { server in
            try await BridgeTests.waitForBridge(server)
            let ehr = try await server.subscriber(topic: "T", events: "org.castbridge.dicom_send", name: "EHR")
            _ = try await CastBinaryTests.upload(
                server, CastBinaryTests.batch(CastBinaryTests.envelope([["fileName": "a.dcm", "byteLength": 3, "mimeType": "application/dicom"]]), parts: [("application/dicom", [1, 2, 3])]))
            let event = try #require(try await ehr.socket.nextJSON(timeout: .seconds(10)))
            let url = try #require(Self.attachments(event).first?["url"]?.stringValue)
            #expect(try await Self.fetch(url).1 == [1, 2, 3])
            try await Task.sleep(for: .milliseconds(1500))
            let gone = try await TestServer.request(.GET, url)
            #expect(gone.status == 404)
            #expect(gone.body.contains("expired"))
            #expect(try await TestServer.request(.GET, "\(server.base)/fhircast/payloads/nope").status == 404)
        }
    }
}
