import Foundation
import Synchronization

/// One run of an external program (a provider's `onMessage`, a display's viewer or hook), with a time limit.
/// The program runs in a process group of its own (Foundation's `Process` starts it so), so a timeout or a
/// cancellation stops it and everything it started.
public enum ChildProcess {
    public enum Ending: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        /// It ran past its time and was stopped (SIGTERM, then SIGKILL two seconds later).
        case timedOut
        case failedToStart(String)
    }

    public enum Output: Sendable {
        /// Each line of standard output, as it comes; standard error is kept for `Result.errorTail`.
        case lines(@Sendable (String) -> Void)
        /// Standard output and error appended to this file; the program's own children may outlive it.
        case file(String)
    }

    public struct Result: Sendable {
        public var ending: Ending
        /// The last few KiB of standard error (in `.lines` mode) or of the log file.
        public var errorTail: String
        /// A line for people: `exit code 3: <the last line of standard error>`.
        public var summary: String {
            let last = errorTail.split(whereSeparator: \.isNewline).last.map { ": \($0)" } ?? ""
            switch ending {
            case .exited(let code): return "exit code \(code)\(last)"
            case .signalled(let signal): return "killed by signal \(signal)\(last)"
            case .timedOut: return "timed out and was stopped\(last)"
            case .failedToStart(let why): return "could not be started: \(why)"
            }
        }
    }

    static let tailBytes = 4096

    /// Runs `executable` and waits for it, at most `timeout`. In `.lines` mode the program's group is ended when it
    /// exits, so nothing it started is left behind; in `.file` mode what it started may go on (a viewer).
    public static func run(
        _ executable: String, arguments: [String] = [], environment: [String: String] = [:], directory: String? = nil,
        timeout: Duration, output: Output
    ) async -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardInput = FileHandle.nullDevice

        let tail = Mutex<[UInt8]>([])
        let (outputEnded, outputEndedSink) = AsyncStream<Void>.makeStream()
        var logFile: String?
        switch output {
        case .lines(let take):
            let out = Pipe()
            let err = Pipe()
            process.standardOutput = out
            process.standardError = err
            let pending = Mutex<[UInt8]>([])
            out.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty {
                    handle.readabilityHandler = nil
                    let rest = pending.withLock { buffer in defer { buffer = [] }; return buffer }
                    if !rest.isEmpty { take(String(decoding: rest, as: UTF8.self)) }
                    outputEndedSink.finish()
                    return
                }
                let lines: [String] = pending.withLock { buffer in
                    buffer.append(contentsOf: data)
                    var lines: [String] = []
                    while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                        lines.append(String(decoding: buffer[..<newline], as: UTF8.self))
                        buffer.removeSubrange(...newline)
                    }
                    if buffer.count > 8192 {  // a line without an end is passed on in pieces
                        lines.append(String(decoding: buffer, as: UTF8.self))
                        buffer = []
                    }
                    return lines
                }
                for line in lines { take(line) }
            }
            err.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty {
                    handle.readabilityHandler = nil
                    return
                }
                tail.withLock { buffer in
                    buffer.append(contentsOf: data)
                    if buffer.count > tailBytes { buffer.removeFirst(buffer.count - tailBytes) }
                }
            }
        case .file(let path):
            logFile = path
            outputEndedSink.finish()
            if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
            guard let handle = FileHandle(forWritingAtPath: path) else {
                return Result(ending: .failedToStart("cannot write its log \(path)"), errorTail: "")
            }
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = handle
        }

        let (exits, exitSink) = AsyncStream<Ending>.makeStream()
        process.terminationHandler = { finished in
            let code = finished.terminationStatus
            exitSink.yield(finished.terminationReason == .uncaughtSignal ? .signalled(code) : .exited(code))
            exitSink.finish()
        }
        do {
            try process.run()
        } catch {
            outputEndedSink.finish()
            return Result(ending: .failedToStart("\(executable): \(error.localizedDescription)"), errorTail: "")
        }
        let group = process.processIdentifier
        let ending = await withTaskCancellationHandler {
            await withTaskGroup(of: Ending?.self) { tasks in
                tasks.addTask {
                    for await ending in exits { return ending }
                    return .exited(-1)
                }
                tasks.addTask {
                    do { try await Task.sleep(for: timeout) } catch { return nil }
                    return .timedOut
                }
                var first: Ending?
                while let next = await tasks.next() {
                    if let next {
                        first = next
                        break
                    }
                }
                tasks.cancelAll()
                return first ?? .timedOut
            }
        } onCancel: {
            kill(-group, SIGKILL)
        }
        if ending == .timedOut {
            kill(-group, SIGTERM)
            for _ in 0..<40 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning { kill(-group, SIGKILL) }
        }
        if case .lines = output {
            // What the program started must not outlive its job; then its output ends.
            kill(-group, SIGKILL)
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask { for await _ in outputEnded {} }
                tasks.addTask { try? await Task.sleep(for: .seconds(1)) }
                await tasks.next()
                tasks.cancelAll()
            }
        }
        withExtendedLifetime(process) {}
        var errorTail = String(decoding: tail.withLock { $0 }, as: UTF8.self)
        if let logFile, let handle = FileHandle(forReadingAtPath: logFile) {
            let size = handle.seekToEndOfFile()
            handle.seek(toFileOffset: size > UInt64(tailBytes) ? size - UInt64(tailBytes) : 0)
            errorTail = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
            try? handle.close()
        }
        return Result(ending: ending, errorTail: errorTail)
    }
}
