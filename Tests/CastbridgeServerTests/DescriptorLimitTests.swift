import AsyncHTTPClient
import Foundation
import NIOHTTP1
import TestSupport
import Testing

/// Each subscriber's socket is a descriptor: `serve` must not stay at a low soft limit when the hard limit allows more.
@Suite("Descriptor limit (live)")
struct DescriptorLimitTests {
    /// `Max open files` of a process: (soft, hard).
    static func openFileLimits(pid: Int32) throws -> (soft: String, hard: String) {
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        guard let line = limits.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") }) else {
            throw TestFailure("no Max open files in /proc/\(pid)/limits")
        }
        let fields = line.dropFirst("Max open files".count).split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2 else { throw TestFailure("unreadable limits line: \(line)") }
        return (String(fields[0]), String(fields[1]))
    }

    @Test("castbridge serve started with a soft limit of 256 open files raises it to the hard limit")
    func raisedToHard() async throws {
        let ours = try Self.openFileLimits(pid: getpid())
        guard let hard = Int(ours.hard), hard > 256 else { return }  // nothing to raise to (unlimited is shown as text)
        let port = try await LoopbackPort.free()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", #"ulimit -Sn 256 && exec "$0" serve --host 127.0.0.1 --port "$1" --store memory --log-level critical"#,
            try ChildServer.binary().path, String(port)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { process.terminate() }
        var answered = false
        for _ in 0..<200 where !answered {
            answered = (try? await TestServer.request(.GET, "http://127.0.0.1:\(port)/health"))?.status == 200
            if !answered { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(answered)
        let limits = try Self.openFileLimits(pid: process.processIdentifier)
        #expect(limits.soft == ours.hard, "the soft limit stayed at \(limits.soft)")
    }
}
