import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOCore
import Testing

/// Every check of the reference hub's multipart path (`_parse_binary_batch_publish` in cast_hub.py), with its
/// message, against the embedded Cast hub (issue #21, item 2; Docs/cast-hub.md).
@Suite("Cast binary batches, rule by rule against the reference (live)")
struct CastBatchRulesTests {
    static func batch(json: String, jsonType: String? = "application/dicom+json", parts: [(type: String?, bytes: [UInt8])]) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeString("--b1\r\n" + (jsonType.map { "Content-Type: \($0)\r\n" } ?? "") + "\r\n" + json)
        for part in parts {
            body.writeString("\r\n--b1\r\n" + (part.type.map { "Content-Type: \($0)\r\n" } ?? "") + "\r\n")
            body.writeBytes(part.bytes)
        }
        body.writeString("\r\n--b1--\r\n")
        return body
    }

    static func envelope(event: String = "dicom-send", files: String) -> String {
        #"{"subscriber.name":"Slicer","event":{"hub.topic":"T","hub.event":"\#(event)","context":{"files":\#(files)}}}"#
    }

    static let one = #"[{"fileName":"a.dcm","byteLength":3,"mimeType":"application/dicom"}]"#
    static let abc: [UInt8] = Array("abc".utf8)

    @Test("Issue 21: each malformed batch gets the reference's 400 and its message; nothing is published")
    func refusals() async throws {
        try await TestServer.with { server in
            let (viewer, _) = try await server.castSubscriber(topic: "T", events: "*", name: "Viewer")
            let type = "multipart/related; boundary=b1"
            let cases: [(String, ByteBuffer, String)] = [
                ("empty body", ByteBuffer(), "multipart/related body is empty"),
                ("no parts", ByteBuffer(string: "no delimiter here"), "multipart/related has no parts"),
                ("first part not JSON", Self.batch(json: Self.envelope(files: Self.one), jsonType: "text/html", parts: [("application/dicom", Self.abc)]),
                 "binary batch publish first part must be JSON (application/dicom+json); got 'text/html'"),
                ("first part without a type", Self.batch(json: Self.envelope(files: Self.one), jsonType: nil, parts: [("application/dicom", Self.abc)]),
                 "binary batch publish first part must be JSON (application/dicom+json); got 'text/plain'"),
                ("empty JSON part", Self.batch(json: "", parts: [("application/dicom", Self.abc)]), "binary batch publish JSON part is empty"),
                ("invalid JSON", Self.batch(json: "{", parts: [("application/dicom", Self.abc)]), "binary batch publish JSON part is not valid JSON"),
                ("JSON not an object", Self.batch(json: "[1]", parts: [("application/dicom", Self.abc)]), "binary batch publish JSON must be an object"),
                ("no event object", Self.batch(json: #"{"event":"x"}"#, parts: [("application/dicom", Self.abc)]), "binary batch publish JSON missing event object"),
                ("not a binary event", Self.batch(json: Self.envelope(event: "annotation-update", files: Self.one), parts: [("application/dicom", Self.abc)]),
                 "binary batch publish publish is only supported for binary-family events (hub.event starting with dicom, nifti, jpg, png, or nrrd)"),
                ("no files", Self.batch(json: Self.envelope(files: "[]"), parts: [("application/dicom", Self.abc)]),
                 "binary batch publish publish requires non-empty event.context.files[]"),
                ("files that are not objects", Self.batch(json: Self.envelope(files: #"["a.dcm", 3]"#), parts: [("application/dicom", Self.abc)]),
                 "binary batch publish publish requires non-empty event.context.files[]"),
                ("no file name anywhere", Self.batch(json: Self.envelope(files: #"[{"byteLength":3}]"#), parts: [("application/dicom", Self.abc)]),
                 "binary transfer requires context.files[].fileName"),
                ("too many parts", Self.batch(json: Self.envelope(files: Self.one), parts: [("application/dicom", Self.abc), ("application/dicom", Self.abc)]),
                 "binary batch publish expects 1 file part(s) after JSON (files without HTTP URL), got 2"),
                ("too few parts", Self.batch(json: Self.envelope(files: Self.one), parts: []),
                 "binary batch publish expects 1 file part(s) after JSON (files without HTTP URL), got 0"),
                ("empty file part", Self.batch(json: Self.envelope(files: #"[{"fileName":"a.dcm"}]"#), parts: [("application/dicom", [])]),
                 "binary batch publish file part 0 is empty"),
                ("unsupported part type", Self.batch(json: Self.envelope(files: Self.one), parts: [("text/html", Self.abc)]),
                 "binary batch publish file part 0 has unsupported Content-Type 'text/html' (expected application/dicom)"),
                ("part without a type, no mimeType", Self.batch(json: Self.envelope(files: #"[{"fileName":"a.dcm"}]"#), parts: [(nil, Self.abc)]),
                 "binary batch publish file part 0 has unsupported Content-Type 'text/plain' (expected application/octet-stream)"),
                ("size mismatch", Self.batch(json: Self.envelope(files: #"[{"fileName":"a.dcm","byteLength":4}]"#), parts: [("application/dicom", Self.abc)]),
                 "binary batch publish file 0 size 3 does not match context.files[0].byteLength 4"),
                ("a bad name", Self.batch(json: Self.envelope(files: #"[{"fileName":"evil.exe.dcm"}]"#), parts: [("application/dicom", Self.abc)]),
                 "transfer filename has disallowed inner extension .exe"),
                ("a base64 part", Self.batch(json: Self.envelope(files: Self.one), parts: [("application/dicom\r\nContent-Transfer-Encoding: base64", Array("YWJj".utf8))]),
                 "binary batch publish part 1 uses Content-Transfer-Encoding 'base64'"),
            ]
            for (name, body, message) in cases {
                let answer = try await CastBinaryTests.upload(server, body, type: type)
                #expect(answer.status == 400, "\(name): \(answer.status) \(answer.body)")
                let detail = answer.json?["detail"]
                let text = detail?.stringValue ?? detail?["message"]?.stringValue ?? ""
                #expect(text.hasPrefix(message), "\(name): \(answer.body)")
            }
            #expect(await viewer.expectSilence(.milliseconds(200)) == nil)
        }
    }

    @Test("Issue 21: what the reference lets through: py.dcm, a byteLength that is not a non-negative integer, a nameless entry beside a named one, a part of the entry's own mimeType")
    func accepted() async throws {
        try await TestServer.with { server in
            let (viewer, _) = try await server.castSubscriber(topic: "T", events: "dicom-send", name: "Viewer")
            let files = #"[{"fileName":"py.dcm","byteLength":"3"},{"byteLength":-1},{"fileName":"b.png","mimeType":"Image/PNG; x=1"}]"#
            let body = Self.batch(json: Self.envelope(files: files), parts: [("application/dicom", Self.abc), ("application/octet-stream", Self.abc), ("image/png", Self.abc)])
            let answer = try await CastBinaryTests.upload(server, body, type: "multipart/related; boundary=b1")
            #expect(answer.status == 200, "\(answer.body)")
            let entries = try #require(try await viewer.nextJSON()?["event"]?["context"]?["files"]?.arrayValue)
            #expect(entries.map { $0["byteLength"] } == [3, 3, 3])
            #expect(entries.allSatisfy { $0["payloadIds"]?.arrayValue?.count == 1 })
        }
    }
}
