import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport

/// The castbridge under test: a child process this benchmark starts (so its memory and CPU can be read), or a URL.
struct Target: Sendable {
    let base: String
    private let child: ChildServer?

    init(base: String, child: ChildServer?) {
        self.base = base
        self.child = child
    }

    /// Starts `castbridge serve` (the release build next to this executable) on a free port.
    static func spawn(binary: String, port: Int, extra: [String]) async throws -> Target {
        do {
            let child = try await ChildServer.start(
                binary: URL(fileURLWithPath: binary), port: port,
                arguments: ["--log-level", "error", "--ping-interval", "0", "--send-buffer", "65536"] + extra, timeout: .seconds(30))
            return Target(base: child.base, child: child)
        } catch {
            throw BenchError("castbridge did not start at \(binary): \(error)")
        }
    }

    func stop() async {
        await child?.stopAndWait()
    }

    /// Resident memory of the server process, bytes (nil for a URL target).
    func rss() async -> Int? { await child?.rss() }

    /// Open file descriptors of the server process.
    func openFiles() async -> Int? { await child?.openFiles() }

    /// User + system CPU time of the server process, seconds.
    func cpuSeconds() async -> Double? { await child?.cpuSeconds() }
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

    static func request(_ method: HTTPMethod, _ url: String, body: String? = nil, contentType: String? = nil, timeout: TimeAmount = .seconds(30)) async throws -> Result {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Result(status: Int(response.status.code), body: String(buffer: bytes))
    }

    static func form(_ fields: [(String, String)]) -> String { FormBody.encode(fields) }

    /// The `hub.channel.endpoint` of a subscribe answer.
    static func endpoint(in body: String) throws -> String {
        guard let data = body.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let endpoint = object["hub.channel.endpoint"] as? String
        else { throw BenchError("no hub.channel.endpoint in \(body.prefix(200))") }
        return endpoint
    }
}
