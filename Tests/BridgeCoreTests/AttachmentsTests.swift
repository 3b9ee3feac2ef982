import BridgeCore
import FHIRcastCore
import Foundation
import Testing

@Suite("Binary content: FHIR Attachments ⇄ Cast manifests")
struct AttachmentsTests {
    @Test("Cast files (chunked, legacy payloadId, url) are read from a fanned-out binary context")
    func castFiles() {
        let context: JSONValue = ["files": [
            ["fileName": "a.dcm", "mimeType": "application/dicom", "byteLength": 5, "payloadIds": ["p1", "p2"], "chunkByteLengths": [4, 1], "expiresAt": "2026-11-22T10:05:00Z"],
            ["fileName": "b.nii", "payloadId": "p3", "byteLength": 0],
            ["fileName": "c.dcm", "url": "https://example.org/c.dcm"],
            ["mimeType": "no name"],
        ]]
        let files = CastFile.files(in: context)
        #expect(files.map(\.fileName) == ["a.dcm", "b.nii", "c.dcm"])
        #expect(files[0].payloadIds == ["p1", "p2"] && files[0].chunkByteLengths == [4, 1] && files[0].byteLength == 5)
        #expect(files[1].payloadIds == ["p3"])
        #expect(files[2].url == "https://example.org/c.dcm")
    }

    @Test("Cast → FHIRcast: one attachment entry per file, with title, type, size, SHA-1, castbridge url, inline data when asked")
    func entries() {
        let files = CastFile.files(in: ["files": [["fileName": "a.dcm", "mimeType": "application/dicom", "byteLength": 3, "payloadIds": ["p1"]], ["fileName": "c.dcm", "url": "https://x/c.dcm"]]])
        let bytes: [UInt8] = [1, 2, 3]
        let out = Attachments.entries(
            for: files, url: { $0 == 0 ? "http://bridge/fhircast/payloads/f0" : nil }, sha1: { $0 == 0 ? Attachments.sha1(bytes) : nil },
            data: { $0 == 0 ? bytes : nil })
        #expect(out[0] == ["key": "file", "attachment": [
            "title": "a.dcm", "contentType": "application/dicom", "size": 3, "url": "http://bridge/fhircast/payloads/f0",
            "hash": .string(Attachments.sha1(bytes)), "data": "AQID",
        ]])
        #expect(out[1]["attachment"]?["url"] == "https://x/c.dcm")
        #expect(Attachments.sha1([UInt8]()) == "2jmj7l5rSw0yVb/vlWAYkK/YBwk=")  // SHA-1 of nothing
    }

    @Test("FHIRcast → Cast: attachments and Binary resources become manifest files; names made to pass the allowlist")
    func outgoing() throws {
        let bytes: [UInt8] = Array("hello".utf8)
        let context: [JSONValue] = [
            ["key": "patient", "resource": ["resourceType": "Patient", "id": "p"]],
            ["key": "file", "attachment": ["contentType": "application/dicom", "title": "CT 1.dcm", "data": .string(Data(bytes).base64EncodedString()), "size": 5, "hash": .string(Attachments.sha1(bytes))]],
            ["key": "image", "resource": ["resourceType": "Binary", "contentType": "image/png", "data": "AAEC"]],
            ["key": "file", "attachment": ["contentType": "application/dicom", "title": "remote.dcm", "url": "https://pacs/x.dcm"]],
            ["key": "file", "attachment": ["contentType": "application/dicom", "title": "../../scan.exe.dcm", "data": "AA=="]],
        ]
        let files = try Attachments.outgoing(from: context, policy: BinaryPolicy())
        #expect(files.map(\.fileName) == ["CT_1.dcm", "file-2.png", "remote.dcm", "scan_exe.dcm"])
        #expect(files[0].source == .bytes(bytes))
        #expect(files[1].byteLength == 3)
        #expect(files[3].byteLength == 1)
        #expect(files[2].source == .url("https://pacs/x.dcm"))
        let manifest = Attachments.manifest(files)
        #expect(manifest["files"]?.arrayValue?.map { $0["byteLength"] } == [5, 3, nil, 1])
        // Cast hubs refuse empty file parts, so an empty attachment is refused here.
        #expect(throws: HubError.self) {
            try Attachments.outgoing(from: [["key": "file", "attachment": ["contentType": "application/dicom", "title": "e.dcm", "data": ""]]], policy: BinaryPolicy())
        }
        #expect(manifest["files"]?.arrayValue?[2]["url"] == "https://pacs/x.dcm")
    }

    @Test("FHIRcast → Cast bad input: size or hash mismatch and bad base64 are 400, caps are 413, unnameable types 400")
    func badInput() {
        func failure(_ attachment: JSONValue, policy: BinaryPolicy = BinaryPolicy()) -> HubError? {
            do {
                _ = try Attachments.outgoing(from: [["key": "file", "attachment": attachment]], policy: policy)
                return nil
            } catch {
                return error
            }
        }
        #expect(failure(["title": "a.dcm", "data": "aGVsbG8=", "size": 4])?.message.contains("'size' says 4 bytes but 'data' holds 5") == true)
        #expect(failure(["title": "a.dcm", "data": "aGVsbG8=", "hash": "AAAA"])?.message.contains("not the SHA-1") == true)
        #expect(failure(["title": "a.dcm", "data": "%%%"])?.message.contains("not base64") == true)
        #expect(failure(["title": "a.dcm"])?.message.contains("neither base64 'data' nor an http(s) 'url'") == true)
        #expect(failure(["title": "a.exe", "contentType": "application/x-msdownload", "data": "AA=="])?.status == 400)
        var small = BinaryPolicy()
        small.maxFileBytes = 4
        let tooBig = failure(["title": "a.dcm", "data": "aGVsbG8="], policy: small)
        #expect(tooBig?.status == 413 && tooBig?.message.contains("the limit is 4 bytes per file") == true)
        var batch = BinaryPolicy()
        batch.maxBatchBytes = 6
        do {
            _ = try Attachments.outgoing(
                from: [["key": "file", "attachment": ["title": "a.dcm", "data": "aGVsbG8="]], ["key": "file", "attachment": ["title": "b.dcm", "data": "aGVsbG8="]]],
                policy: batch)
            Issue.record("the batch cap was not enforced")
        } catch {
            #expect(error.status == 413 && error.message.contains("binary.maxBatchBytes"))
        }
    }

    @Test("The binary section of a mapping file sets the policy, once, with checked values")
    func mappingSection() throws {
        let set = try MappingFile.load([("b.yaml", "binary: {inlineMaxBytes: 1024, maxFileBytes: 2048, maxBatchBytes: 4096}")]).get()
        #expect(set.binary.inlineMaxBytes == 1024 && set.binary.maxFileBytes == 2048 && set.binary.maxBatchBytes == 4096)
        guard case .failure(let e) = MappingFile.load([("a.yaml", "binary: {maxFileBytes: 0}"), ("b.yaml", "binary: {colour: red}")]) else {
            Issue.record("expected errors")
            return
        }
        #expect(e.description.contains("a.yaml:1:") && e.description.contains("at least 1"))
        #expect(e.description.contains("binary is already set in a.yaml"))
    }
}
