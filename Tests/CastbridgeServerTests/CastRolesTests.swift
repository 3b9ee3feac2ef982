import CastClient
import CastRoles
import CastRolesCore
import CastbridgeServer
import FHIRcastCore
import Foundation
import Logging
import NIOCore
import TestSupport
import Testing

/// The Cast client roles beside the hub, live (issue #15): `castbridge provider` with a real onMessage program and
/// `castbridge display` with a real viewer command, a scene hook and a DICOMweb study served by the test, on a real
/// castbridge, through the bridge where a FHIRcast app is involved.
@Suite("Cast roles (live)")
struct CastRolesTests {
    // MARK: Helpers

    /// Asks STATUS of a topic's apps of `product` until one answers; returns its data.
    static func untilAnswers(_ base: String, topic: String, product: String, timeout: Duration = .seconds(10)) async throws -> JSONValue {
        let client = CastHubClient(url: base, auth: .none)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let answer = try await client.request("STATUS", topic: topic, from: "probe", targetProduct: product)
            if let data = answer.data() { return data }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("no app of \(product) answered STATUS on \(topic)")
    }

    /// Cast messages from a socket until one matches `last` (included).
    static func messages(from socket: TestSocket, until last: (CastMessage) -> Bool, timeout: Duration = .seconds(15)) async throws -> [CastMessage] {
        var got: [CastMessage] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let json = try await socket.nextJSON(timeout: .milliseconds(200)), let message = CastMessage(json: json) else { continue }
            got.append(message)
            if last(message) { return got }
        }
        throw TestFailure("the awaited message did not come; got \(got.map { "\($0.event) \($0.context["message"]?.stringValue ?? "")" })")
    }

    /// Whether the folder is empty (or gone) within two seconds: a job's folder is removed after its last update.
    static func untilEmpty(_ folder: String) async -> Bool {
        for _ in 0..<100 {
            if ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).isEmpty { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    static let logger: Logger = {
        var logger = Logger(label: "test.roles")
        logger.logLevel = ProcessInfo.processInfo.environment["CASTBRIDGE_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }()

    static func updates(_ messages: [CastMessage]) -> [String] {
        messages.filter { $0.event == "status-update" }.compactMap { $0.context["message"]?.stringValue }
    }

    static func isDone(_ message: CastMessage) -> Bool {
        message.event == "status-update" && (message.context["message"]?.stringValue?.contains(": done") ?? false)
    }

    static func send(_ client: CastHubClient, _ name: String, bytes: String, topic: String, from sender: String, in dir: String) async throws -> PublishOutcome {
        let path = dir + "/" + name
        try bytes.write(toFile: path, atomically: true, encoding: .utf8)
        return await client.publish(
            CastMessage(topic: topic, event: "dicom-send", context: [:], subscriberName: sender),
            files: [CastOutgoingFile(path: path, fileName: name, mimeType: "application/dicom", byteLength: bytes.utf8.count)])
    }

    static func provider(_ base: String, dir: String, timeout: Double = 10, concurrency: Int = 2, queueLimit: Int = 16) throws -> ProviderConfiguration {
        ProviderConfiguration(
            hubURL: base, product: "SEGMENTER", onMessage: try RoleScripts.onMessage(in: dir), workDirectory: dir + "/jobs",
            concurrency: concurrency, queueLimit: queueLimit, jobTimeoutSeconds: timeout, reconnectBaseSeconds: 0.05, reconnectMaxSeconds: 0.2,
            deliveryPatienceSeconds: 10)
    }

    // MARK: Provider

    @Test("provider: a DICOM batch a user's Cast app sends comes back as the onMessage program's result, to that app only; progress arrives as status-updates; STATUS says online")
    func providerRoundTrip() async throws {
        try await TestServer.with { server in
            let dir = try RoleScripts.folder()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let runner = Task { await ProviderRunner(config: try Self.provider(server.base, dir: dir), logger: Self.logger).run() }
            defer { runner.cancel() }
            let status = try await Self.untilAnswers(server.base, topic: "U1", product: "SEGMENTER")
            #expect(status["source"] == "status")
            #expect(status["product"] == "SEGMENTER")
            #expect(status["items"]?.arrayValue?.first == ["key": "availability", "value": "online"])

            let (viewer, _) = try await server.castSubscriber(topic: "U1", events: "dicom-send,status-update", name: "Viewer-U1")
            let (worklist, _) = try await server.castSubscriber(topic: "U1", events: "dicom-send,status-update", name: "Worklist-U1")
            let (otherUser, _) = try await server.castSubscriber(topic: "U2", events: "dicom-send,status-update", name: "Viewer-U2")
            let client = CastHubClient(url: server.base, auth: .none)
            #expect(try await Self.send(client, "scan.dcm", bytes: "DICM-1234", topic: "U1", from: "Viewer-U1", in: dir) == .sent)

            let got = try await Self.messages(from: viewer, until: Self.isDone)
            let updates = Self.updates(got)
            #expect(updates.first == "SEGMENTER: received 1 file(s), fetching")
            #expect(updates.contains("reading 1 file(s) from Viewer-U1"))
            #expect(updates.contains("wrote 1 result(s)"))
            #expect(updates.contains { $0.contains("not sent") && $0.contains("notes.txt") })
            #expect(updates.last == "SEGMENTER: done, 1 result file(s) sent")
            #expect(got.allSatisfy { $0.event != "status-update" || $0.context["level"] == "info" })
            let results = got.filter { $0.event == "dicom-send" }
            try #require(results.count == 1)
            #expect(results[0].subscriberName == "SEGMENTER")
            #expect(results[0].targetSubscriber == "Viewer-U1")
            let entry = try #require(results[0].files.first)
            #expect(entry.fileName == "seg-scan.dcm")
            #expect(!entry.payloadIDs.isEmpty)
            try await client.fetch(entry, to: dir + "/got.dcm")
            #expect(RoleScripts.read(dir + "/got.dcm") == "RESULT:DICM-1234")

            // The user's other app saw the batch itself and nothing of the provider's; the other user saw nothing.
            var worklistGot: [CastMessage] = []
            while let json = try await worklist.nextJSON(timeout: .milliseconds(300)), let message = CastMessage(json: json) { worklistGot.append(message) }
            #expect(worklistGot.map(\.subscriberName) == ["Viewer-U1"])
            #expect(try await otherUser.nextJSON(timeout: .milliseconds(300)) == nil)
            // The job's folder is gone.
            #expect(await Self.untilEmpty(dir + "/jobs"))
        }
    }

    @Test("provider: a failing job and a hanging one are reported to the sender as errors, stopped, cleaned up; beyond the queue the sender hears it is busy; the runner goes on")
    func providerFailures() async throws {
        try await TestServer.with { server in
            let dir = try RoleScripts.folder()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let config = try Self.provider(server.base, dir: dir, timeout: 1, concurrency: 1, queueLimit: 0)
            let runner = Task { await ProviderRunner(config: config, logger: Self.logger).run() }
            defer { runner.cancel() }
            _ = try await Self.untilAnswers(server.base, topic: "U1", product: "SEGMENTER")
            let (viewer, _) = try await server.castSubscriber(topic: "U1", events: "status-update,dicom-send", name: "Viewer-U1")
            let client = CastHubClient(url: server.base, auth: .none)

            _ = try await Self.send(client, "fail.dcm", bytes: "x", topic: "U1", from: "Viewer-U1", in: dir)
            let failed = try await Self.messages(from: viewer) { $0.context["message"]?.stringValue?.contains("job failed") ?? false }
            #expect(failed.contains { $0.context["level"] == "error" && $0.context["message"] == "cannot segment fail.dcm" })
            #expect(failed.last?.context["level"] == "error")
            #expect(failed.last?.context["message"] == "SEGMENTER: the job failed (exit code 3: segmenter crashed)")

            let started = ContinuousClock.now
            _ = try await Self.send(client, "hang.dcm", bytes: "x", topic: "U1", from: "Viewer-U1", in: dir)
            _ = try await Self.send(client, "hang-2.dcm", bytes: "x", topic: "U1", from: "Viewer-U1", in: dir)
            let hung = try await Self.messages(from: viewer) { $0.context["message"]?.stringValue?.contains("timed out") ?? false }
            #expect(ContinuousClock.now - started < .seconds(8))
            #expect(Self.updates(hung).contains { $0.hasPrefix("SEGMENTER is busy (1 jobs running, 0 waiting)") })
            #expect(hung.last?.context["message"] == "SEGMENTER: the job timed out after 1 s and was stopped")
            #expect(hung.allSatisfy { $0.event != "dicom-send" })

            _ = try await Self.send(client, "ok.dcm", bytes: "fine", topic: "U1", from: "Viewer-U1", in: dir)
            let after = try await Self.messages(from: viewer, until: Self.isDone)
            #expect(after.contains { $0.event == "dicom-send" })
            #expect(await Self.untilEmpty(dir + "/jobs"))
        }
    }

    @Test("provider through the bridge: a FHIRcast app's org.castbridge.dicom_send is worked on; the result and the progress come back to FHIRcast as org.castbridge.dicom_send and org.castbridge.status_update")
    func providerThroughBridge() async throws {
        try await TestServer.with(BridgeTests.bridged) { server in
            try await BridgeTests.waitForBridge(server)
            let dir = try RoleScripts.folder()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let runner = Task { await ProviderRunner(config: try Self.provider(server.base, dir: dir), logger: Self.logger).run() }
            defer { runner.cancel() }
            _ = try await Self.untilAnswers(server.base, topic: "T", product: "SEGMENTER")
            let ehr = try await server.subscriber(topic: "T", events: "org.castbridge.dicom_send,org.castbridge.status_update", name: "EHR")
            let sent = Events.notification("org.castbridge.dicom_send", topic: "T", context: [BridgeBinaryTests.attachmentEntry("scan.dcm", Array("DICM-77".utf8))])
            #expect(try await server.publish(sent).status == 200)

            var result: JSONValue?
            var updates: [String] = []
            let deadline = ContinuousClock.now + .seconds(15)
            while ContinuousClock.now < deadline, !updates.contains(where: { $0.contains(": done") }) {
                guard let event = try await ehr.socket.nextJSON(timeout: .seconds(1)) else { continue }
                if let id = event["id"]?.stringValue { ehr.socket.ack(id) }
                switch event["event"]?["hub.event"]?.stringValue {
                case "org.castbridge.dicom_send":
                    if let file = BridgeBinaryTests.attachments(event).first, file["title"] == "seg-scan.dcm" { result = file }
                case "org.castbridge.status_update":
                    updates.append(String(decoding: event.jsonBytes, as: UTF8.self))
                default: continue
                }
            }
            #expect(updates.contains { $0.contains("received 1 file(s)") })
            #expect(updates.contains { $0.contains("done, 1 result file(s) sent") })
            let url = try #require(result?["url"]?.stringValue)
            #expect(try await BridgeBinaryTests.fetch(url).1 == Array("RESULT:DICM-77".utf8))
        }
    }

    @Test("provider: when the hub restarts on the same port the provider subscribes again and serves the next batch")
    func providerSurvivesRestart() async throws {
        let first = try await TestServer.start()
        let port = first.server.port
        let dir = try RoleScripts.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runner = Task { await ProviderRunner(config: try Self.provider(first.server.base, dir: dir), logger: Self.logger).run() }
        defer { runner.cancel() }
        _ = try await Self.untilAnswers(first.server.base, topic: "U1", product: "SEGMENTER")
        try await first.stop()
        let second = try await TestServer.start { $0.port = port }
        _ = try await Self.untilAnswers(second.server.base, topic: "U1", product: "SEGMENTER")
        let (viewer, _) = try await second.server.castSubscriber(topic: "U1", events: "dicom-send,status-update", name: "Viewer-U1")
        let client = CastHubClient(url: second.server.base, auth: .none)
        #expect(try await Self.send(client, "scan.dcm", bytes: "again", topic: "U1", from: "Viewer-U1", in: dir) == .sent)
        let got = try await Self.messages(from: viewer, until: Self.isDone)
        #expect(got.filter { $0.event == "dicom-send" }.count == 1)
        runner.cancel()
        try await second.stop()
    }

    // MARK: Display

    static func display(_ base: String, topic: String, dir: String, hook: Bool = true, close: Bool = true, dicomwebRoot: String? = nil) throws -> DisplayConfiguration {
        DisplayConfiguration(
            hubURL: base, topic: topic, product: "VIEWER", cacheDirectory: dir + "/cache", viewerCommand: [try RoleScripts.viewer(in: dir)],
            closeCommand: close ? [try RoleScripts.close(in: dir)] : nil, sceneHook: hook ? [try RoleScripts.sceneHook(in: dir)] : nil,
            dicomwebRoot: dicomwebRoot, commandTimeoutSeconds: 10, reconnectBaseSeconds: 0.05, reconnectMaxSeconds: 0.2)
    }

    /// Waits until `condition` holds, polling.
    static func until(_ what: String, timeout: Duration = .seconds(10), _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("\(what) did not happen within \(timeout)")
    }

    static func item(_ status: JSONValue?, _ key: String) -> String? {
        status?["items"]?.arrayValue?.first { $0["key"]?.stringValue == key }?["value"]?.stringValue
    }

    static func imagingStudy(uid: String) -> JSONValue {
        ["key": "study", "resource": ["resourceType": "ImagingStudy", "id": "s1", "identifier": [["system": "urn:dicom:uid", "value": .string("urn:oid:\(uid)")]]]]
    }

    @Test("display: a FHIRcast app's ImagingStudy-open opens the study from DICOMweb in the viewer; its STATUS, with the scene and the viewer's thumbnail, comes back through the bridge; ImagingStudy-close runs the close command")
    func displayThroughBridge() async throws {
        let pacs = try await DICOMwebServer.start(studyUID: "1.2.840.99", instances: [Array("DICM-A".utf8), Array("DICM-B".utf8)])
        let dir = try RoleScripts.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            try await TestServer.with(BridgeTests.bridged) { server in
                try await BridgeTests.waitForBridge(server)
                let display = DisplayClient(config: try Self.display(server.base, topic: "T", dir: dir, dicomwebRoot: pacs.root), logger: Self.logger)
                let running = Task { await display.run() }
                defer { running.cancel() }
                _ = try await Self.untilAnswers(server.base, topic: "T", product: "VIEWER")

                let context = [Self.imagingStudy(uid: "1.2.840.99"), Events.patient("p1")]
                #expect(try await server.publish(Events.notification("ImagingStudy-open", topic: "T", context: context)).status == 200)
                try await Self.until("the viewer's open") { await display.current.load == .loaded }
                #expect(RoleScripts.read(dir + "/record.txt") == "open dicomweb 1.2.840.99 instance-0001.dcm instance-0002.dcm \n")
                #expect(RoleScripts.read(dir + "/cache/s1/instance-0002.dcm") == "DICM-B")
                #expect(pacs.retrieveCount == 1)

                let answer = try await server.postJSON("/T/request", ["dataType": "STATUS", "timeoutSeconds": 5])
                #expect(answer.status == 200)
                let status = answer.json?["responses"]?.arrayValue?.first?["data"]
                #expect(status?["source"] == "status")
                #expect(status?["product"] == "VIEWER")
                #expect(status?["items"]?.arrayValue?.first == ["key": "availability", "value": "online"])
                #expect(Self.item(status, "load") == "loaded")
                #expect(Self.item(status, "study") == "s1")
                #expect(status?["sceneview"]?["source"] == "sceneview")
                #expect(status?["sceneview"]?["display"]?["layoutName"] == "one-up")
                let viewport = status?["sceneview"]?["viewports"]?.arrayValue?.first
                #expect(viewport?["studyInstanceUID"] == "s1")
                #expect(viewport?["thumbnail"]?["contentType"] == "image/png")
                #expect(viewport?["thumbnail"]?["width"] == 2)
                #expect(viewport?["thumbnail"]?["height"] == 1)
                #expect(viewport?["thumbnail"]?["data"]?.stringValue == RoleScripts.png)

                #expect(try await server.publish(Events.notification("ImagingStudy-close", topic: "T", context: context)).status == 200)
                try await Self.until("the close command") { RoleScripts.read(dir + "/record.txt").contains("close s1") }
                let closed = try await server.postJSON("/T/request", ["dataType": "STATUS", "timeoutSeconds": 5]).json?["responses"]?.arrayValue?.first?["data"]
                #expect(Self.item(closed, "load") == "none")
                #expect(Self.item(closed, "study") == nil)

                // Opened again, the study comes from the cache.
                #expect(try await server.publish(Events.notification("ImagingStudy-open", topic: "T", context: context)).status == 200)
                try await Self.until("the second open") { RoleScripts.read(dir + "/record.txt").components(separatedBy: "open dicomweb").count == 3 }
                #expect(pacs.retrieveCount == 1)
            }
        } catch {
            await pacs.stop()
            throw error
        }
        await pacs.stop()
    }

    @Test("display: files carried in a Cast app's event are opened; SCENEVIEW is answered without a hook; an event for another actor, a request for another product and an open that names no study change nothing but the error shown")
    func displayFilesAndAddressing() async throws {
        try await TestServer.with { server in
            let dir = try RoleScripts.folder()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let display = DisplayClient(config: try Self.display(server.base, topic: "U9", dir: dir, hook: false, close: false), logger: Self.logger)
            let running = Task { await display.run() }
            defer { running.cancel() }
            _ = try await Self.untilAnswers(server.base, topic: "U9", product: "VIEWER")
            let client = CastHubClient(url: server.base, auth: .none)
            let files: JSONValue = ["key": "files", "resource": ["files": [["fileName": "../../a.nii", "data": .string(Data("NIFTI".utf8).base64EncodedString())]]]]
            let study: JSONValue = ["key": "study", "resource": ["resourceType": "ImagingStudy", "id": "f1"]]
            #expect(await client.publish(CastMessage(topic: "U9", event: "imagingstudy-open", context: [study, files], subscriberName: "worklist")) == .sent)
            try await Self.until("the files open") { await display.current.load == .loaded }
            #expect(RoleScripts.read(dir + "/record.txt") == "open files  a.nii \n")
            #expect(RoleScripts.read(dir + "/cache/f1/a.nii") == "NIFTI")

            let scene = try await client.request("SCENEVIEW", topic: "U9", from: "probe", targetActor: "ID", timeoutSeconds: 3)
            #expect(scene.ok && scene.expected == ["VIEWER-U9"] && scene.missing.isEmpty)
            let sceneview = scene.data(from: "VIEWER-U9")
            #expect(sceneview?["source"] == "sceneview")
            #expect(sceneview?["viewports"] == [])

            // Addressed to a worklist: not for the display.
            let other: JSONValue = ["key": "study", "resource": ["resourceType": "ImagingStudy", "id": "f2"]]
            var toWorklist = CastMessage(topic: "U9", event: "imagingstudy-open", context: [other, files], subscriberName: "worklist")
            toWorklist.targetActor = "WORKLIST_CLIENT"
            #expect(await client.publish(toWorklist) == .sent)
            let otherProduct = try await client.request("STATUS", topic: "U9", from: "probe", targetProduct: "OTHER", timeoutSeconds: 1)
            #expect(otherProduct.responses.isEmpty && otherProduct.expected.isEmpty)
            #expect(await display.current.studyID == "f1")

            // An open that names no study: shown as an error, the viewer not run.
            #expect(await client.publish(CastMessage(topic: "U9", event: "imagingstudy-open", context: [Events.patient("p1")], subscriberName: "worklist")) == .sent)
            try await Self.until("the refused open") { await display.current.load == .error }
            let status = try await Self.untilAnswers(server.base, topic: "U9", product: "VIEWER")
            #expect(Self.item(status, "error")?.contains("names no study") == true)
            #expect(RoleScripts.read(dir + "/record.txt").components(separatedBy: "open").count == 2)
        }
    }
}
