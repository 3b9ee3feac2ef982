import Foundation
import NIOHTTP1
import NIOCore
import NIOPosix

/// The real `castbridge` executable in a child process, for tests that need a second castbridge process.
actor CastbridgeProcess {
    let port: Int
    private let process: Process

    private init(port: Int, arguments: [String]) throws {
        self.port = port
        process = Process()
        process.executableURL = try Self.binary()
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", String(port), "--log-level", "critical", "--ping-interval", "0"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    nonisolated var base: String { "http://127.0.0.1:\(port)" }

    /// The executable built next to the test bundle.
    static func binary() throws -> URL {
        let nextToTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("castbridge")
        if FileManager.default.isExecutableFile(atPath: nextToTests.path) { return nextToTests }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let debug = root.appendingPathComponent(".build/debug/castbridge")
        if FileManager.default.isExecutableFile(atPath: debug.path) { return debug }
        throw TestFailure("the castbridge executable is not built (swift build --build-tests builds it)")
    }

    /// A port nothing listens on right now.
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }

    /// Starts `castbridge serve --port <port> <arguments>` and waits until `/health` answers.
    static func start(port: Int, arguments: [String] = []) async throws -> CastbridgeProcess {
        let child = try CastbridgeProcess(port: port, arguments: arguments)
        try await child.waitUntilHealthy()
        return child
    }

    /// Starts on a free port, with another port when the chosen one was taken before the child could bind it.
    static func start(arguments: [String] = []) async throws -> CastbridgeProcess {
        for _ in 0..<4 {
            do {
                return try await start(port: try await freePort(), arguments: arguments)
            } catch is PortTaken {
                continue
            }
        }
        throw TestFailure("no free port could be bound")
    }

    struct PortTaken: Error { let port: Int }

    private func waitUntilHealthy() async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let health = try? await TestServer.request(.GET, "\(base)/health"), health.status == 200 {
                // Another process may have taken the port between freePort() and our bind: then ours has exited.
                try await Task.sleep(for: .milliseconds(100))
                guard process.isRunning else { throw PortTaken(port: port) }
                return
            }
            guard process.isRunning else { throw TestFailure("castbridge exited with status \(process.terminationStatus)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        stop()
        throw TestFailure("castbridge did not start on port \(port)")
    }

    var isRunning: Bool { process.isRunning }

    /// The exit status (or the signal that ended it), once the process has ended.
    var exitStatus: String {
        guard !process.isRunning else { return "still running" }
        let how = process.terminationReason == .uncaughtSignal ? "signal" : "status"
        return "\(how) \(process.terminationStatus)"
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
    }

    /// SIGTERM, then waits for the exit (graceful shutdown).
    func stopAndWait() async {
        stop()
        let deadline = ContinuousClock.now + .seconds(15)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}
