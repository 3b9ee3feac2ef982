import AsyncHTTPClient
import BridgeCore
import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// Binary content across the bridge (issue #5): Cast batches as FHIR Attachments served by castbridge, and FHIRcast
/// attachments as Cast batches.
@Suite("Bridge binary, both directions (live)")
struct BridgeBinaryTests {
    static func fetch(_ url: String) async throws -> (Int, [UInt8], String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return (Int(response.status.code), Array(bytes.readableBytesView), response.headers.first(name: "Content-Type") ?? "")
    }

    static func attachments(_ event: JSONValue) -> [JSONValue] {
        (event["event"]?["context"]?.arrayValue ?? []).filter { $0["key"] == "file" }.compactMap { $0["attachment"] }
    }

    @Test("A dicom-send batch (multi-chunk > 4 MiB, small, url) reaches FHIRcast as attachments; each url serves the bytes exactly")
    func roundTrip() async throws {
        try await TestServer.with({ BridgeTests.bridged(&$0) }) { server in
            try await BridgeTests.waitForBridge(server)
            let ehr = try await server.subscriber(topic: "T", events: "org.castbridge.dicom_send", name: "EHR")
            let big = CastBinaryTests.randomBytes((5 << 20) + 123)  // two chunks of the default 4 MiB
            let small = CastBinaryTests.randomBytes(4037)
            let files: [JSONValue] = [
                ["fileName": "series.dcm", "byteLength": .int(Int64(big.count)), "mimeType": "application/dicom", "dicomMetadata": ["00080060": ["vr": "CS", "Value": ["CT"]]]],
                ["fileName": "small.dcm", "byteLength": .int(Int64(small.count)), "mimeType": "application/dicom"],
                ["fileName": "remote.dcm", "url": "https://pacs.example.org/a.dcm", "mimeType": "application/dicom"],
            ]
            let body = CastBinaryTests.batch(CastBinaryTests.envelope(files), parts: [("application/dicom", big), ("application/dicom", small)])
            #expect(try await CastBinaryTests.upload(server, body).status == 200)
            let event = try #require(try await ehr.socket.nextJSON(timeout: .seconds(60)))
            #expect(event["event"]?["hub.event"] == "org.castbridge.dicom_send")
            let found = Self.attachments(event)
            #expect(found.map { $0["title"] } == ["series.dcm", "small.dcm", "remote.dcm"])
            for (attachment, bytes) in zip(found.prefix(2), [big, small]) {
                #expect(attachment["size"] == .int(Int64(bytes.count)))
                #expect(attachment["hash"] == .string(Attachments.sha1(bytes)))
                let url = try #require(attachment["url"]?.stringValue)
                #expect(url.hasPrefix("\(server.base)/fhircast/payloads/"))
                let (status, got, type) = try await Self.fetch(url)
                #expect(status == 200)
                #expect(got == bytes)
                #expect(type == attachment["contentType"]?.stringValue)
            }
            #expect(found[2]["url"] == "https://pacs.example.org/a.dcm")
            #expect(found[2]["hash"] == nil)
            // dicomMetadata travels with the Cast context in the castbridge extension.
            let ext = event["event"]?["context"]?.arrayValue?.last?["data"]?["org.castbridge.cast"]
            #expect(ext?["context"]?["files"]?.arrayValue?.first?["dicomMetadata"]?["00080060"]?["Value"] == ["CT"])
        }
    }

    @Test("With an external Cast hub, castbridge streams a file from the hub's chunks, in order")
    func external() async throws {
        let hub = try await TestServer.start { $0.castPayloadChunkBytes = 1000 }
        try await TestServer.with({ BridgeTests.bridged(&$0); $0.castHubURL = hub.server.base }) { server in
            try await BridgeTests.waitForBridge(server)
            let ehr = try await server.subscriber(topic: "T", events: "org.castbridge.dicom_send", name: "EHR")
            let bytes = CastBinaryTests.randomBytes(3500)  // four chunks on the hub
            let body = CastBinaryTests.batch(
                CastBinaryTests.envelope([["fileName": "a.dcm", "byteLength": 3500, "mimeType": "application/dicom"]]), parts: [("application/dicom", bytes)])
            #expect(try await CastBinaryTests.upload(hub.server, body).status == 200)
            let event = try #require(try await ehr.socket.nextJSON(timeout: .seconds(10)))
            let attachment = try #require(Self.attachments(event).first)
            #expect(attachment["hash"] == .string(Attachments.sha1(bytes)))
            let url = try #require(attachment["url"]?.stringValue)
            #expect(url.hasPrefix(server.base))
            #expect(try await Self.fetch(url).1 == bytes)
        }
        try await hub.stop()
    }

    @Test("Concurrent transfers: four Cast uploads at once each reach FHIRcast once, and each url serves its own bytes")
    func concurrent() async throws {
        try await TestServer.with({ BridgeTests.bridged(&$0); $0.castPayloadChunkBytes = 64 << 10 }) { server in
            try await BridgeTests.waitForBridge(server)
            let ehr = try await server.subscriber(topic: "T", events: "org.castbridge.dicom_send", name: "EHR")
            let contents = (0..<4).map { _ in CastBinaryTests.randomBytes(200_000) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, bytes) in contents.enumerated() {
                    group.addTask {
                        let body = CastBinaryTests.batch(
                            CastBinaryTests.envelope([["fileName": .string("f\(i).dcm"), "byteLength": 200_000, "mimeType": "application/dicom"]]),
                            parts: [("application/dicom", bytes)])
                        let result = try await CastBinaryTests.upload(server, body)
                        #expect(result.status == 200)
                    }
                }
                try await group.waitForAll()
            }
            var seen: [String: String] = [:]
            while seen.count < 4, let event = try await ehr.socket.nextJSON(timeout: .seconds(10)) {
                if let a = Self.attachments(event).first, let title = a["title"]?.stringValue, let url = a["url"]?.stringValue {
                    #expect(seen[title] == nil)
                    seen[title] = url
                }
            }
            #expect(seen.count == 4)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, bytes) in contents.enumerated() {
                    guard let url = seen["f\(i).dcm"] else { continue }
                    group.addTask {
                        let got = try await Self.fetch(url).1
                        #expect(got == bytes)
                    }
                }
                try await group.waitForAll()
            }
            // One file, downloaded by several receivers at once: each gets every byte, in order.
            let shared = try #require(seen["f0.dcm"])
            try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for _ in 0..<6 { group.addTask { try await Self.fetch(shared).1 } }
                for try await got in group { #expect(got == contents[0]) }
            }
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
        // Long enough for the first download under a loaded test run, short enough to wait out.
        try await TestServer.with({ BridgeTests.bridged(&$0); $0.castPayloadTTLSeconds = 2 }) { server in
            try await BridgeTests.waitForBridge(server)
            let ehr = try await server.subscriber(topic: "T", events: "org.castbridge.dicom_send", name: "EHR")
            _ = try await CastBinaryTests.upload(
                server, CastBinaryTests.batch(CastBinaryTests.envelope([["fileName": "a.dcm", "byteLength": 3, "mimeType": "application/dicom"]]), parts: [("application/dicom", [1, 2, 3])]))
            let event = try #require(try await ehr.socket.nextJSON(timeout: .seconds(10)))
            let url = try #require(Self.attachments(event).first?["url"]?.stringValue)
            #expect(try await Self.fetch(url).1 == [1, 2, 3])
            try await Task.sleep(for: .milliseconds(2500))
            let gone = try await TestServer.request(.GET, url)
            #expect(gone.status == 404)
            #expect(gone.body.contains("expired"))
            #expect(try await TestServer.request(.GET, "\(server.base)/fhircast/payloads/nope").status == 404)
        }
    }

    // MARK: FHIRcast → Cast

    static func attachmentEntry(_ title: String, _ bytes: [UInt8], type: String = "application/dicom") -> JSONValue {
        ["key": "file", "attachment": [
            "title": .string(title), "contentType": .string(type), "data": .string(Data(bytes).base64EncodedString()),
            "size": .int(Int64(bytes.count)), "hash": .string(Attachments.sha1(bytes)),
        ]]
    }

    @Test("FHIRcast → Cast: attachments become a multipart batch; the Cast app downloads every file byte for byte, url entries kept")
    func toCast() async throws {
        try await TestServer.with({ BridgeTests.bridged(&$0); $0.maxBodyBytes = 16 << 20 }) { server in
            try await BridgeTests.waitForBridge(server)
            let (viewer, _) = try await server.castSubscriber(topic: "T", events: "dicom-send", name: "Viewer")
            let big = CastBinaryTests.randomBytes((4 << 20) + 5)  // two chunks on the Cast side
            let small = CastBinaryTests.randomBytes(700)
            let context: [JSONValue] = [
                Self.attachmentEntry("Series 1.dcm", big),
                ["key": "image", "resource": ["resourceType": "Binary", "contentType": "image/png", "data": .string(Data(small).base64EncodedString())]],
                ["key": "file", "attachment": ["contentType": "application/dicom", "title": "remote.dcm", "url": "https://pacs.example.org/r.dcm"]],
            ]
            let published = try await server.publish(Events.notification("org.castbridge.dicom_send", topic: "T", id: "bin-1", context: context))
            #expect(published.status == 200)
            // Generous: 4 MiB through a debug build on a busy machine.
            let got = try #require(try await viewer.nextJSON(timeout: .seconds(60)))
            #expect(got["id"] == "bin-1")
            #expect(got["event"]?["hub.event"] == "dicom-send")
            let files = try #require(got["event"]?["context"]?["files"]?.arrayValue)
            #expect(files.map { $0["fileName"] } == ["Series_1.dcm", "file-2.png", "remote.dcm"])
            for (entry, bytes) in zip(files.prefix(2), [big, small]) {
                #expect(entry["byteLength"] == .int(Int64(bytes.count)))
                var downloaded: [UInt8] = []
                for id in entry["payloadIds"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
                    downloaded += try await CastBinaryTests.download(server, id).1
                }
                #expect(downloaded == bytes)
            }
            #expect(files[2]["url"] == "https://pacs.example.org/r.dcm")
        }
    }

    @Test("FHIRcast → Cast bad input: a size or hash mismatch is 400, a file over the cap 413 naming it; nothing is published anywhere")
    func toCastErrors() async throws {
        let mappings = try MappingFile.load([("default.yaml", DefaultMappings.yaml), ("binary.yaml", "binary: {maxFileBytes: 1000}")]).get()
        try await TestServer.with({ BridgeTests.bridged(&$0); $0.mappings = mappings }) { server in
            try await BridgeTests.waitForBridge(server)
            let (viewer, _) = try await server.castSubscriber(topic: "T", events: "dicom-send", name: "Viewer")
            let ehr = try await server.subscriber(topic: "T", events: "org.castbridge.dicom_send", name: "EHR")
            var wrongSize = Self.attachmentEntry("a.dcm", [1, 2, 3])
            if case .object(var o) = wrongSize, case .object(var a)? = o["attachment"] {
                a["size"] = 4
                o["attachment"] = .object(a)
                wrongSize = .object(o)
            }
            let size = try await server.publish(Events.notification("org.castbridge.dicom_send", topic: "T", context: [wrongSize]))
            #expect(size.status == 400 && size.body.contains("'size' says 4 bytes"))
            var wrongHash = Self.attachmentEntry("a.dcm", [1, 2, 3])
            if case .object(var o) = wrongHash, case .object(var a)? = o["attachment"] {
                a["hash"] = "AAAA"
                o["attachment"] = .object(a)
                wrongHash = .object(o)
            }
            let hash = try await server.publish(Events.notification("org.castbridge.dicom_send", topic: "T", context: [wrongHash]))
            #expect(hash.status == 400 && hash.body.contains("SHA-1"))
            let big = try await server.publish(Events.notification("org.castbridge.dicom_send", topic: "T", context: [Self.attachmentEntry("big.dcm", CastBinaryTests.randomBytes(1001))]))
            #expect(big.status == 413 && big.body.contains("the limit is 1000 bytes per file"))
            // Cast refuses empty file parts (the reference's rule), so an empty attachment is refused here, not there.
            let empty = try await server.publish(Events.notification("org.castbridge.dicom_send", topic: "T", context: [Self.attachmentEntry("empty.dcm", [])]))
            #expect(empty.status == 400 && empty.body.contains("is empty"), "\(empty.body)")
            #expect(await viewer.expectSilence() == nil)
            #expect(await ehr.socket.expectSilence(.milliseconds(100)) == nil)
        }
    }

    // MARK: Backpressure

    static func binaryEvent(_ id: String, _ bytes: [UInt8]) -> JSONValue {
        var event = Events.notification("org.castbridge.dicom_send", topic: "T", id: id, context: [Self.attachmentEntry("\(id).dcm", bytes)])
        if case .object(var root) = event {
            root["subscriber.name"] = "EHR"  // who gets a SyncError
            event = .object(root)
        }
        return event
    }

    @Test("Backpressure: a full Cast payload store holds a bridged batch back until there is room (never fanned out without its files); the queue's byte budget answers 503 with Retry-After and publishes nothing")
    func storeFullBackpressure() async throws {
        try await TestServer.with({
            BridgeTests.bridged(&$0)
            $0.castPayloadMaxTotalBytes = 1000
            $0.castPayloadTTLSeconds = 3  // reaped every 0.75 s
            $0.bridgeQueueMaxBytes = 1500
            $0.bridgeQueueMaxWaitSeconds = 30
            $0.hub.ackTimeoutSeconds = 0
        }) { server in
            try await BridgeTests.waitForBridge(server)
            let (viewer, _) = try await server.castSubscriber(topic: "T", events: "dicom-send", name: "Viewer")
            let ehr = try await server.subscriber(topic: "T", events: "org.castbridge.dicom_send,SyncError", name: "EHR")
            let a = CastBinaryTests.randomBytes(800), b = CastBinaryTests.randomBytes(800), c = CastBinaryTests.randomBytes(800)
            #expect(try await server.publish(Self.binaryEvent("A", a)).status == 200)
            let gotA = try #require(try await viewer.nextJSON(timeout: .seconds(10)))
            #expect(gotA["id"] == "A" && gotA["event"]?["context"]?["files"]?.arrayValue?.first?["payloadIds"] != nil)
            // B is accepted, but the store holds A's 800 of its 1000 bytes: B waits in the bridge's queue.
            #expect(try await server.publish(Self.binaryEvent("B", b)).status == 200)
            var bridge: JSONValue?
            for _ in 0..<100 {
                bridge = try await server.get("/health").json?["bridge"]
                if bridge?["busy"] != nil { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(bridge?["busy"]?.stringValue?.contains("payload store is full") == true)
            #expect(bridge?["queuedBytes"] == 800)
            // C does not fit beside B in the 1500-byte budget: refused for now, and seen by no one.
            let refused = try await server.publish(Self.binaryEvent("C", c))
            #expect(refused.status == 503)
            #expect(refused.headers.first(name: "Retry-After") == "1")
            #expect(refused.body.contains("--bridge-queue-max-bytes") && refused.body.contains("publish it again later"))
            // Files larger than the whole budget can never fit: 413.
            let huge = try await server.publish(Self.binaryEvent("D", CastBinaryTests.randomBytes(1501)))
            #expect(huge.status == 413 && huge.body.contains("at most 1500 bytes"))
            // A expires; B then goes out with its files, byte for byte.
            let gotB = try #require(try await viewer.nextJSON(timeout: .seconds(15)))
            #expect(gotB["id"] == "B")
            let ids = gotB["event"]?["context"]?["files"]?.arrayValue?.first?["payloadIds"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(!ids.isEmpty)
            var downloaded: [UInt8] = []
            for id in ids { downloaded += try await CastBinaryTests.download(server, id).1 }
            #expect(downloaded == b)
            // FHIRcast saw A and B, no C, and no SyncError: nothing was lost or invented.
            var seen: [String] = []
            while let f = try await ehr.socket.nextJSON(timeout: .milliseconds(500)) {
                seen.append("\(f["event"]?["hub.event"]?.stringValue ?? "?"):\(f["id"]?.stringValue ?? "?")")
            }
            #expect(seen == ["org.castbridge.dicom_send:A", "org.castbridge.dicom_send:B"])
            // With room again, C is taken.
            #expect(try await server.publish(Self.binaryEvent("C", c)).status == 200)
        }
    }

    /// A bridged server whose Cast payload store holds 1,000 bytes (files stay 60 s), with a Cast viewer and a
    /// FHIRcast SyncError subscriber named like the publisher of `binaryEvent`.
    static func withSmallStore(
        maxWait: Double, _ body: (TestServer, _ viewer: TestSocket, _ ehr: TestSocket) async throws -> Void
    ) async throws {
        try await TestServer.with({
            BridgeTests.bridged(&$0)
            $0.castPayloadMaxTotalBytes = 1000
            $0.castPayloadTTLSeconds = 60
            $0.bridgeQueueMaxWaitSeconds = maxWait
            $0.hub.ackTimeoutSeconds = 0
        }) { server in
            try await BridgeTests.waitForBridge(server)
            let (viewer, _) = try await server.castSubscriber(topic: "T", events: "dicom-send", name: "Viewer")
            let ehr = try await server.subscriber(topic: "T", events: "SyncError", name: "EHR")
            try await body(server, viewer, ehr.socket)
        }
    }

    @Test("Backpressure: a batch the full Cast payload store cannot take within the queue's wait gets its publisher a SyncError naming the store")
    func storeFullExpires() async throws {
        try await Self.withSmallStore(maxWait: 1) { server, viewer, ehr in
            #expect(try await server.publish(Self.binaryEvent("A", CastBinaryTests.randomBytes(800))).status == 200)
            #expect(try await viewer.nextJSON(timeout: .seconds(10))?["id"] == "A")
            #expect(try await server.publish(Self.binaryEvent("B", CastBinaryTests.randomBytes(800))).status == 200)
            let error = try #require(try await ehr.nextJSON(timeout: .seconds(10)))
            #expect(error["event"]?["hub.event"] == "SyncError")
            #expect("\(error)".contains("payload store is full") && "\(error)".contains("B"))
            #expect(await viewer.expectSilence() == nil)
            #expect(try await server.get("/health").json?["bridge"]?["queued"] == 0)
        }
    }

    @Test("Backpressure: a batch larger than the whole Cast payload store is refused at once, with a SyncError naming the cap")
    func largerThanStore() async throws {
        try await Self.withSmallStore(maxWait: 30) { server, viewer, ehr in
            #expect(try await server.publish(Self.binaryEvent("Big", CastBinaryTests.randomBytes(1200))).status == 200)
            // Long before the 30 s wait: it could never fit, so it is not kept.
            let error = try #require(try await ehr.nextJSON(timeout: .seconds(5)))
            #expect(error["event"]?["hub.event"] == "SyncError")
            let diagnostics = error["event"]?["context"]?.arrayValue?.first?["resource"]?["issue"]?.arrayValue?.first?["diagnostics"]?.stringValue
            #expect(diagnostics?.contains("more than the Cast payload store's cap of 1000") == true)
            #expect(await viewer.expectSilence() == nil)
            #expect(try await server.get("/health").json?["bridge"]?["queued"] == 0)
        }
    }
}
