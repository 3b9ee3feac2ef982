import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// `castbridge serve` in a child process on a loopback port: for tests that need a second castbridge (or one to
/// kill), and for the benchmark, which reads the child's memory and CPU.
public actor ChildServer {
    public nonisolated let port: Int
    private let process: Process

    /// The chosen port was taken by another process before the child could bind it.
    public struct PortTaken: Error { public let port: Int }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Where the child's standard error goes: read when it exits before answering, to tell why.
    private let errors: URL

    private init(binary: URL, port: Int, arguments: [String]) throws {
        self.port = port
        process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", String(port)] + arguments
        process.standardOutput = FileHandle.nullDevice
        errors = FileManager.default.temporaryDirectory.appendingPathComponent("castbridge-child-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
    }

    /// The child exited before it answered: a port another process took first is `PortTaken` (the caller picks
    /// another), anything else a `Failure` with the child's last words.
    private func exitedEarly() -> any Error {
        let said = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        if said.contains("Address already in use") { return PortTaken(port: port) }
        let lines = said.split(separator: "\n")
        // A crash's report begins with its reason, and its backtrace follows.
        let last = (lines.first { $0.contains("Fatal error") || $0.contains("Crash") || $0.hasPrefix("Error:") }.map { [$0] } ?? lines.suffix(3)).joined(separator: " | ")
        try? FileManager.default.copyItem(at: errors, to: FileManager.default.temporaryDirectory.appendingPathComponent("castbridge-child-failed-\(port).log"))
        return Failure(description: "castbridge exited with status \(process.terminationStatus): \(last)")
    }

    public nonisolated var base: String { "http://127.0.0.1:\(port)" }

    /// Starts the child and waits until its `/health` answers (within `timeout`).
    public static func start(binary: URL, port: Int, arguments: [String], timeout: Duration = .seconds(20)) async throws -> ChildServer {
        let child = try ChildServer(binary: binary, port: port, arguments: arguments)
        try await child.waitUntilHealthy(timeout: timeout)
        return child
    }

    private func waitUntilHealthy(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await healthAnswers() {
                // Another process may have taken the port between choosing it and our bind: then ours has exited.
                try await Task.sleep(for: .milliseconds(100))
                guard process.isRunning else { throw exitedEarly() }
                return
            }
            guard process.isRunning else { throw exitedEarly() }
            try await Task.sleep(for: .milliseconds(50))
        }
        stop()
        throw Failure(description: "castbridge did not start on port \(port)")
    }

    private func healthAnswers() async -> Bool {
        guard let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: "\(base)/health"), timeout: .seconds(2)) else {
            return false
        }
        _ = try? await response.body.collect(upTo: 1 << 16)
        return response.status == .ok
    }

    public var isRunning: Bool { process.isRunning }

    /// The exit status (or the signal that ended it), once the process has ended.
    public var exitStatus: String {
        guard !process.isRunning else { return "still running" }
        let how = process.terminationReason == .uncaughtSignal ? "signal" : "status"
        return "\(how) \(process.terminationStatus)"
    }

    /// SIGTERM.
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
    }

    /// SIGTERM, then waits for the exit (graceful shutdown), at most `timeout`.
    public func stopAndWait(timeout: Duration = .seconds(15)) async {
        stop()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// SIGKILL: the process ends at once, with no shutdown of any kind; returns once it has.
    public func kill() async {
        guard process.isRunning else { return }
        _ = Foundation.kill(process.processIdentifier, SIGKILL)
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// Resident memory of the child, bytes.
    public func rss() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        let kb = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
        return kb.map { $0 * 1024 }
    }

    /// Open file descriptors of the child (sockets, files, pipes).
    public func openFiles() -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd"))?.count
    }

    /// User + system CPU time of the child, seconds.
    public func cpuSeconds() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3; utime and stime are fields 14 and 15 (1-based over the whole line).
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        return (utime + stime) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    deinit {
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(at: errors)
    }
}
