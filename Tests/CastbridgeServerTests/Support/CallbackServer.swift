import Crypto
import FHIRcastCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A real webhook subscriber on loopback: answers intent verification and records signed deliveries.
final class CallbackServer: Sendable {
    struct Delivery: Sendable {
        var body: String
        var signature: String
        var json: JSONValue? { try? JSONValue.parse(Data(body.utf8)) }
    }

    enum VerifyMode: Sendable { case echo, refuse404, wrongBody }

    struct State: Sendable {
        var verifyMode: VerifyMode = .echo
        var verifications: [[String: String]] = []
        var denials: [[String: String]] = []
        var deliveries: [Delivery] = []
        /// Statuses to answer deliveries with, in order; 200 once exhausted.
        var script: [Int] = []
        var delaySeconds: Double = 0
    }

    let state = Mutex(State())
    private let portBox = Mutex(0)
    var port: Int { portBox.withLock { $0 } }

    var url: String { "http://127.0.0.1:\(port)/cb?existing=1" }

    func snapshot() -> State { state.withLock { $0 } }

    static func with(_ body: (CallbackServer) async throws -> Void) async throws {
        let server = CallbackServer()
        let router = Router()
        router.get("cb") { request, _ -> Response in
            var query: [String: String] = [:]
            for (k, v) in request.uri.queryParameters { query[String(k)] = String(v) }
            let mode = server.state.withLock { s -> VerifyMode in
                if query["hub.mode"] == "denied" { s.denials.append(query) } else { s.verifications.append(query) }
                return s.verifyMode
            }
            if query["hub.mode"] == "denied" { return Response(status: .ok) }
            switch mode {
            case .echo: return Response(status: .ok, headers: [.contentType: "text/html"], body: .init(byteBuffer: ByteBuffer(string: query["hub.challenge"] ?? "")))
            case .refuse404: return Response(status: .notFound)
            case .wrongBody: return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "nope")))
            }
        }
        router.post("cb") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 22)
            let signature = request.headers[HTTPField.Name("X-Hub-Signature")!] ?? ""
            let (status, delay) = server.state.withLock { s -> (Int, Double) in
                s.deliveries.append(Delivery(body: String(buffer: body), signature: signature))
                return (s.script.isEmpty ? 200 : s.script.removeFirst(), s.delaySeconds)
            }
            if delay > 0 { try await Task.sleep(for: .seconds(delay)) }
            return Response(status: HTTPResponse.Status(code: status))
        }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "callback")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var it = ports.makeAsyncIterator()
            let port = await it.next() ?? 0
            server.portBox.withLock { $0 = port }
            do { try await body(server) } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// Waits until `condition` holds on the recorded state.
    func wait(timeout: Duration = .seconds(5), _ condition: (State) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(snapshot()) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition(snapshot())
    }

    static func hmac(_ body: String, secret: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(secret.utf8)))
            .map { String(format: "%02x", $0) }.joined()
    }
}
