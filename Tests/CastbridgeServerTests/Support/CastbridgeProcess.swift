import Foundation
import TestSupport

/// The tests' second castbridge: the real executable in a child process (`ChildServer`), quiet and without pings.
typealias CastbridgeProcess = ChildServer

extension ChildServer {
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

    /// Starts `castbridge serve --port <port> <arguments>` and waits until `/health` answers. It keeps nothing
    /// (`--store memory`) unless the arguments name a store.
    static func start(port: Int, arguments: [String] = []) async throws -> ChildServer {
        let store = arguments.contains("--store") ? [] : ["--store", "memory"]
        return try await start(binary: try binary(), port: port, arguments: ["--log-level", "critical", "--ping-interval", "0"] + store + arguments)
    }

    /// Starts on a free port, with another port when the chosen one was taken before the child could bind it.
    static func start(arguments: [String] = []) async throws -> ChildServer {
        for _ in 0..<4 {
            do {
                return try await start(port: try await LoopbackPort.free(), arguments: arguments)
            } catch is PortTaken {
                continue
            }
        }
        throw TestFailure("no free port could be bound")
    }
}
