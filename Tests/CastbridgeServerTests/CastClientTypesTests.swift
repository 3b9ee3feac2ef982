import CastClient
import FHIRcastCore
import Foundation
import NIOCore
import Testing

/// The Cast client library's typed messages, read and written without a hub.
struct CastClientTypesTests {
    @Test("A Cast envelope is read into its typed fields and written back with nothing lost, unknown root fields included")
    func envelopeRoundTrip() throws {
        let json: JSONValue = [
            "id": "m1", "timestamp": "2026-12-03T08:00:00Z", "subscriber.name": "viewer", "actor": "ID", "target.actor": "EC",
            "x-extra": ["kept": true],
            "event": ["hub.topic": "U1", "hub.event": "DICOM-send", "context": ["files": [["fileName": "a.dcm", "payloadId": "p1", "byteLength": 4]]]],
        ]
        let message = try #require(CastMessage(json: json))
        #expect(message.event == "dicom-send")
        #expect(message.topic == "U1")
        #expect(message.actor == "ID")
        #expect(message.targetActor == "EC")
        #expect(message.files == [CastFileEntry(fileName: "a.dcm", byteLength: 4, payloadIDs: ["p1"])])
        let again = try #require(CastMessage(json: message.json))
        #expect(again == message)
        #expect(message.json["x-extra"] == ["kept": true])
        #expect(CastMessage(frame: #"{"type":"connection.established","endpoint":"e"}"#) == nil)
        #expect(CastMessage(frame: "not json") == nil)
    }

    @Test("A request's response carries its id and data type, as <datatype>-response on the request's topic")
    func response() throws {
        let request = try #require(CastMessage(frame: #"{"id":"f","subscriber.name":"asker","event":{"hub.topic":"T","hub.event":"status-request","context":{"id":"q1","dataType":"STATUS"}}}"#))
        #expect(request.isRequest)
        let reply = request.response(from: "viewer", actor: "ID", data: ["source": "status"])
        #expect(reply.event == "status-response")
        #expect(reply.topic == "T")
        #expect(reply.context == ["id": "q1", "dataType": "STATUS", "data": ["source": "status"]])
        let bare = try #require(CastMessage(frame: #"{"event":{"hub.topic":"T","hub.event":"sceneview-request","context":{}}}"#))
        #expect(bare.dataType == "SCENEVIEW")
        #expect(bare.requestID == nil)
    }

    @Test("target.actor and target.product.name: absent, empty or * is everyone; otherwise the role or product must match, in any case")
    func addressing() {
        var message = CastMessage(topic: "T", event: "imagingstudy-open", context: [])
        #expect(message.isAddressed(toActors: ["ID"], product: "viewer"))
        message.targetActor = "*"
        #expect(message.isAddressed(toActors: ["ID"], product: "viewer"))
        message.targetActor = "id"
        #expect(message.isAddressed(toActors: ["ID"], product: "viewer"))
        message.targetActor = "WORKLIST_CLIENT"
        #expect(!message.isAddressed(toActors: ["ID"], product: "viewer"))
        message.targetActor = nil
        message.targetProduct = "OTHER"
        #expect(!message.isAddressed(toActors: ["ID"], product: "viewer"))
        message.targetProduct = "VIEWER"
        #expect(message.isAddressed(toActors: ["ID"], product: "viewer"))
    }

    @Test("The subscribe form of a typed subscriber: actors as a JSON array, events lower case and comma-joined")
    func subscriberFields() {
        let fields = CastSubscriber(topic: "*", events: ["DICOM-send", "status-request"], name: "seg", actors: ["EC"], productName: "SEG").fields
        #expect(fields["hub.events"] == "dicom-send,status-request")
        #expect(fields["subscriber.actors"] == #"["EC"]"#)
        #expect(fields["hub.topic"] == "*")
        #expect(fields["hub.channel.type"] == "websocket")
        #expect(fields["subscriber.product.name"] == "SEG")
    }

    @Test("A batch streamed from disk is exactly its announced length: the envelope part, then each file's bytes, then the closing delimiter")
    func batchBody() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("castclient-\(UUID().uuidString).dcm").path
        let bytes = [UInt8](repeating: 0x44, count: (2 << 20) + 5)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let body = CastBatchBody(envelope: ["event": ["hub.topic": "T", "hub.event": "dicom-send"]], files: [CastOutgoingFile(path: path, fileName: "a.dcm", mimeType: "application/dicom", byteLength: bytes.count)])
        var all = ByteBuffer()
        var pieces = 0
        for try await var piece in body {
            pieces += 1
            all.writeBuffer(&piece)
        }
        #expect(all.readableBytes == body.length)
        #expect(pieces == 2 + 1 + 3 + 1)  // the envelope, its part header, the file in 1 MiB pieces, the closing delimiter
        #expect(all.getString(at: 0, length: 13) == "--castclient-")
        #expect(all.getString(at: all.readableBytes - 4, length: 4) == "--\r\n")
        #expect(body.contentType.hasPrefix("multipart/related; boundary=castclient-"))

        let short = CastBatchBody(envelope: [:], files: [CastOutgoingFile(path: path, fileName: "a.dcm", mimeType: "application/dicom", byteLength: bytes.count + 1)])
        await #expect(throws: CastBatchBody.FileChanged.self) { for try await _ in short {} }
    }
}
