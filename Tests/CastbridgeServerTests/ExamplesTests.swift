import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOHTTP1
import Synchronization
import TestSupport
import Testing

/// Issue #17: the README's walk-through runs. The example apps in `examples/` (Python, standard library only) against a
/// real castbridge with the bridge on: an event crosses the bridge both ways, and a STATUS request is answered.
@Suite("The examples/ walk-through (live)")
struct ExamplesTests {
    static var examples: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples")
    }

    /// What a child process printed, as it comes.
    final class Printed: Sendable {
        private let text = Mutex("")
        func append(_ more: String) { text.withLock { $0 += more } }
        var lines: [String] { text.withLock { $0.split(separator: "\n").map(String.init) } }
    }

    /// One example app in a child process, its output collected as it comes.
    final class App: Sendable {
        let process: Process
        private let printed = Printed()

        init(_ script: String, _ arguments: [String]) throws {
            process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-u", ExamplesTests.examples.appendingPathComponent(script).path] + arguments
            process.currentDirectoryURL = ExamplesTests.examples
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            let printed = self.printed
            pipe.fileHandleForReading.readabilityHandler = { handle in printed.append(String(decoding: handle.availableData, as: UTF8.self)) }
            try process.run()
        }

        var output: [String] { printed.lines }

        /// Waits until a line contains `text`; returns it.
        @discardableResult
        func until(_ text: String, timeout: Duration = .seconds(15)) async throws -> String {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let line = output.first(where: { $0.contains(text) }) { return line }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw TestFailure("the example never printed '\(text)'; it printed:\n\(output.joined(separator: "\n"))")
        }

        func stop() {
            if process.isRunning { process.terminate() }
        }
    }

    @Test("FHIRcast → Cast, Cast → FHIRcast and a STATUS request answered by the Cast app, with the example apps")
    func walkThrough() async throws {
        try await TestServer.with({ $0.bridgeEnabled = true }) { server in
            let hub = server.base
            let viewer = try App("cast_app.py", ["--hub", hub, "--topic", "demo"])
            defer { viewer.stop() }
            try await viewer.until("connection.established")
            let reporting = try App("fhircast_app.py", ["--hub", hub, "--topic", "demo"])
            defer { reporting.stop() }
            try await reporting.until("confirmation:")

            // FHIRcast → Cast: a second FHIRcast app publishes Patient-open.
            let pacs = try App("fhircast_app.py", ["--hub", hub, "--topic", "demo", "--name", "pacs", "--open-patient", "p1", "--count", "1"])
            defer { pacs.stop() }
            try await pacs.until("published Patient-open: 200")
            let onCast = try await viewer.until("\"hub.event\": \"patient-open\"")
            #expect(onCast.contains("\"id\": \"p1\""))
            try await reporting.until("\"hub.event\": \"Patient-open\"")

            // A FHIRcast app asks the Cast apps for their STATUS through the bridge.
            let status = try await TestServer.request(
                .POST, "\(hub)/fhircast/STU3/demo/request", body: #"{"dataType": "STATUS", "timeoutSeconds": 5}"#, contentType: "application/json")
            #expect(status.status == 200)
            #expect(status.json?["ok"] == true)
            let data = status.json?["responses"]?.arrayValue?.first?["data"]
            #expect(data?["source"] == "status")
            #expect(data?["items"]?.arrayValue?.first?["value"] == "online")
            try await viewer.until("answered the STATUS request")

            // Cast → FHIRcast: a second Cast app publishes patient-close.
            let slicer = try App("cast_app.py", ["--hub", hub, "--topic", "demo", "--name", "slicer", "--close-patient", "p1"])
            defer { slicer.stop() }
            try await slicer.until("published patient-close: 200")
            try await reporting.until("\"hub.event\": \"Patient-close\"")
        }
    }
}
