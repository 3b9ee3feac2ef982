import AsyncHTTPClient
import FHIRcastCore
import Foundation
import NIOCore
import Synchronization

/// A real headless Chromium (Debian's `chromium`), driven over the DevTools protocol: one WebSocket to one page, commands
/// answered by id. For the admin console's test. Without Chromium the tests skip, except in CI (`CI=true`), where they
/// fail: `.ci/run` installs it.
final class Chromium: Sendable {
    private let process: Process
    private let page: TestSocket
    private let profile: URL
    private let nextID = Mutex(0)

    /// `CASTBRIDGE_CHROMIUM`, else Debian's and the usual names.
    static var executable: String? {
        let candidates = [ProcessInfo.processInfo.environment["CASTBRIDGE_CHROMIUM"]].compactMap { $0 }
            + ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static var required: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    private init(process: Process, page: TestSocket, profile: URL) {
        self.process = process
        self.page = page
        self.profile = profile
    }

    /// Starts Chromium with a throwaway profile and connects to its first page; nil when it is not installed (and not
    /// required).
    static func launch() async throws -> Chromium? {
        guard let executable else {
            if required { throw TestFailure("CI=true but Chromium is not installed: .ci/run installs Debian's chromium") }
            return nil
        }
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("castbridge-chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--remote-debugging-address=127.0.0.1", "--remote-allow-origins=*", "--remote-debugging-port=0", "--window-size=1280,900",
            "--user-data-dir=\(profile.path)", "about:blank",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Chromium writes the port it took, and its browser path, to DevToolsActivePort.
        let portFile = profile.appendingPathComponent("DevToolsActivePort")
        let deadline = ContinuousClock.now + .seconds(30)
        var port: String?
        while ContinuousClock.now < deadline, process.isRunning {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let first = text.split(separator: "\n").first {
                port = String(first)
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let port else {
            process.terminate()
            throw TestFailure("Chromium did not open its DevTools port within 30 s")
        }
        let list = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/json/list"), timeout: .seconds(10))
        let body = try await list.body.collect(upTo: 1 << 20)
        let targets = try JSONValue.parse(Data(String(buffer: body).utf8))
        guard let url = targets.arrayValue?.first(where: { $0["type"] == "page" })?["webSocketDebuggerUrl"]?.stringValue else {
            process.terminate()
            throw TestFailure("Chromium has no page to drive: \(targets)")
        }
        return Chromium(process: process, page: try await TestSocket.connect(url), profile: profile)
    }

    /// Sends one command and returns its `result`, skipping the events that come in between.
    @discardableResult
    func send(_ method: String, _ params: JSONValue = [:]) async throws -> JSONValue {
        let id = nextID.withLock { value -> Int in
            value += 1
            return value
        }
        page.send(["id": .int(Int64(id)), "method": .string(method), "params": params])
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            guard let message = try await page.nextJSON(timeout: .seconds(20)) else { break }
            guard message["id"] == .int(Int64(id)) else { continue }
            if let error = message["error"] { throw TestFailure("\(method): \(error)") }
            return message["result"] ?? [:]
        }
        throw TestFailure("Chromium did not answer \(method)")
    }

    func navigate(_ url: String) async throws {
        try await send("Page.navigate", ["url": .string(url)])
    }

    /// Runs a script in the page and returns its value.
    @discardableResult
    func evaluate(_ expression: String) async throws -> JSONValue {
        let result = try await send("Runtime.evaluate", ["expression": .string(expression), "returnByValue": true, "awaitPromise": true])
        if let exception = result["exceptionDetails"] { throw TestFailure("the page threw: \(exception)") }
        return result["result"]?["value"] ?? .null
    }

    /// Waits until `expression` is true in the page (one that throws, on a page still loading, counts as false).
    func until(_ expression: String, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            do {
                if try await evaluate("Boolean(\(expression))") == true { return }
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let body = (try? await evaluate("document.body ? document.body.innerText : ''"))?.stringValue ?? ""
        throw TestFailure("the page never showed \(expression) (last error: \(last)); it shows:\n\(body)")
    }

    /// A PNG of the page as it is.
    func screenshot() async throws -> Data {
        let result = try await send("Page.captureScreenshot", ["format": "png", "captureBeyondViewport": true])
        guard let base64 = result["data"]?.stringValue, let png = Data(base64Encoded: base64) else { throw TestFailure("no screenshot") }
        return png
    }

    func close() {
        page.close()
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: profile)
    }
}
