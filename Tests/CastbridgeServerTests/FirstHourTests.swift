import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOHTTP1
import TestSupport
import Testing

/// Issue #17: the rough edges a newcomer hit, each shown fixed against the real executable or server.
@Suite("A newcomer's first hour (live)")
struct FirstHourTests {
    /// Runs the castbridge executable to its end; its exit code and what it wrote to standard error.
    static func run(_ arguments: [String], timeout: Duration = .seconds(30)) async throws -> (status: Int32, stderr: String, stdout: String) {
        let process = Process()
        process.executableURL = try ChildServer.binary()
        process.arguments = arguments
        let errors = Pipe()
        let output = Pipe()
        process.standardError = errors
        process.standardOutput = output
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning {
            process.terminate()
            throw TestFailure("castbridge \(arguments) did not end within \(timeout)")
        }
        let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, said, printed)
    }

    @Test("A port already in use: one line that names the address and says what to do, exit 1, and no warning about a Cast connection")
    func portInUse() async throws {
        try await TestServer.with { server in
            let (status, stderr, _) = try await Self.run(["serve", "--port", String(server.port), "--store", "memory"])
            #expect(status == 1)
            #expect(stderr.contains("castbridge cannot listen on 127.0.0.1:\(server.port): the address is already in use"))
            #expect(stderr.contains("--port"))
            #expect(!stderr.contains("reconnecting"))
            #expect(!stderr.contains("errno"))
        }
    }

    @Test("castbridge --version prints the version")
    func version() async throws {
        let (status, _, stdout) = try await Self.run(["--version"])
        #expect(status == 0)
        #expect(stdout.trimmingCharacters(in: .whitespacesAndNewlines) == CastbridgeVersion.current)
    }

    @Test("mappings check takes one file as well as a directory, says what it wants otherwise, and shows its default once")
    func mappingsCheck() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = root.appendingPathComponent("mappings")
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().first { $0.hasSuffix(".yaml") })
        let one = try await Self.run(["mappings", "check", folder.appendingPathComponent(file).path])
        #expect(one.status == 0)
        #expect(one.stdout.hasPrefix("1 file(s) OK"))
        let readme = try await Self.run(["mappings", "check", root.appendingPathComponent("README.md").path])
        #expect(readme.status != 0)
        #expect(readme.stderr.contains("is not a mapping file (*.yaml, *.yml) or a directory of them"))
        let missing = try await Self.run(["mappings", "check", "/nonexistent/mappings"])
        #expect(missing.stderr.contains("no such file or directory"))
        let help = try await Self.run(["mappings", "check", "--help"])
        #expect(help.stdout.components(separatedBy: "default:").count == 2)
    }

    @Test("The Cast hub answers a text/plain publish with 415, as the FHIRcast hub does")
    func castUnsupportedType() async throws {
        try await TestServer.with { server in
            let cast = try await TestServer.request(
                .POST, "\(server.base)/api/hub", body: #"{"event":{"hub.topic":"T","hub.event":"patient-open"}}"#, contentType: "text/plain")
            #expect(cast.status == 415)
            #expect(cast.body.contains("text/plain"))
            let fhircast = try await TestServer.request(.POST, server.stu3, body: "{}", contentType: "text/plain")
            #expect(fhircast.status == 415)
            // A form still works, with or without its Content-Type.
            let form = try await TestServer.request(
                .POST, "\(server.base)/api/hub", body: "hub.mode=subscribe&hub.topic=T&hub.events=patient-open&hub.channel.type=websocket",
                contentType: "application/x-www-form-urlencoded")
            #expect(form.status == 202)
        }
    }

    @Test("A subscription naming more than 256 events is refused with 400 and the limit, on both hubs; 256 are taken")
    func eventCap() async throws {
        try await TestServer.with({ $0.acceptAnyEvent = true }) { server in
            let many = (0..<40_000).map { "Thing\($0)-open" }.joined(separator: ",")
            let fhircast = try await server.post(
                "", form: [("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "T"), ("hub.events", many)])
            #expect(fhircast.status == 400)
            #expect(fhircast.body.contains("at most 256"))
            let enough = (0..<256).map { "org.example.event\($0)" }.joined(separator: ",")
            let taken = try await server.post(
                "", form: [("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "T"), ("hub.events", enough)])
            #expect(taken.status == 202, "\(taken.body)")
            let cast = try await TestServer.request(
                .POST, "\(server.base)/api/hub", body: FormBody.encode([("hub.mode", "subscribe"), ("hub.topic", "T"), ("hub.events", many), ("hub.channel.type", "websocket")]),
                contentType: "application/x-www-form-urlencoded")
            #expect(cast.status == 400)
            #expect(cast.body.contains("at most 256"))
        }
    }
}
