import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The castbridge under test: a child process this benchmark starts (so its memory and CPU can be read), or a URL.
actor Target {
    let base: String
    private let process: Process?

    init(base: String, process: Process?) {
        self.base = base
        self.process = process
    }

    /// Starts `castbridge serve` (the release build next to this executable) on a free port.
    static func spawn(binary: String, port: Int, extra: [String]) async throws -> Target {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "serve", "--host", "127.0.0.1", "--port", String(port), "--log-level", "error", "--ping-interval", "0",
            "--send-buffer", "65536",
        ] + extra
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let target = Target(base: "http://127.0.0.1:\(port)", process: process)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let r = try? await HTTP.request(.GET, "\(target.base)/health"), r.status == 200 { return target }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        throw BenchError("castbridge did not start at \(binary)")
    }

    func stop() {
        process?.terminate()
        process?.waitUntilExit()
    }

    /// Resident memory of the server process, bytes (nil for a URL target).
    func rss() -> Int? {
        guard let pid = process?.processIdentifier,
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        let kb = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
        return kb.map { $0 * 1024 }
    }

    /// User + system CPU time of the server process, seconds.
    func cpuSeconds() -> Double? {
        guard let pid = process?.processIdentifier,
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3; utime and stime are fields 14 and 15 (1-based over the whole line).
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        return (utime + stime) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum HTTP {
    struct Result: Sendable {
        var status: Int
        var body: String
    }

    static func request(_ method: HTTPMethod, _ url: String, body: String? = nil, contentType: String? = nil) async throws -> Result {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Result(status: Int(response.status.code), body: String(buffer: bytes))
    }

    static func form(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._*")
        return fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }.joined(separator: "&")
    }

    /// The `hub.channel.endpoint` of a subscribe answer.
    static func endpoint(in body: String) throws -> String {
        guard let data = body.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let endpoint = object["hub.channel.endpoint"] as? String
        else { throw BenchError("no hub.channel.endpoint in \(body.prefix(200))") }
        return endpoint
    }
}
