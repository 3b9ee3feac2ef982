import AsyncHTTPClient
import CastbridgeServer
import FHIRcastService
import ServiceSupport
import FHIRcastCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import TestSupport
import Testing

/// A real castbridge on an ephemeral loopback port, for the length of `body`.
struct TestServer: Sendable {
    let port: Int
    let group: ServiceGroup

    var base: String { "http://127.0.0.1:\(port)" }
    var stu3: String { "\(base)/fhircast/STU3" }
    var stu2: String { "\(base)/fhircast/STU2" }

    /// What every test server starts from: a free loopback port, quiet logs, fast timers.
    static func testConfiguration(_ configure: (inout ServerConfiguration) -> Void) -> ServerConfiguration {
        var config = ServerConfiguration()
        config.port = 0
        config.logLevel = ProcessInfo.processInfo.environment["CASTBRIDGE_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        config.tickIntervalSeconds = 0.05
        config.pingIntervalSeconds = 0
        config.webhookBackoffSeconds = 0.05
        config.shutdownGraceSeconds = 0.5
        // Suites of one hub run without the bridge; BridgeTests turn it on.
        config.bridgeEnabled = false
        configure(&config)
        return config
    }

    static func with(
        _ configure: (inout ServerConfiguration) -> Void = { _ in },
        access: (any AccessPolicy)? = nil,
        store: (any HubStore)? = nil,
        fanOut: (any TopicFanOut)? = nil,
        audit: (any AuditSink)? = NoAudit(),
        _ body: (TestServer) async throws -> Void
    ) async throws {
        let config = testConfiguration(configure)
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        var castbridge = Castbridge(config: config)
        castbridge.access = access
        if let store { castbridge.store = store }
        if let fanOut { castbridge.fanOut = fanOut }
        if let audit { castbridge.audit = audit }
        let group = try castbridge.makeServiceGroup(handleSignals: false) { portContinuation.yield($0) }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                // A server that fails to start ends the wait for its port.
                defer { portContinuation.finish() }
                try await group.run()
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw TestFailure("server did not start") }
            let server = TestServer(port: port, group: group)
            do {
                try await body(server)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// A server that runs until `stop()`, for tests that stop and restart one mid-test.
    final class Running: Sendable {
        let server: TestServer
        private let task: Task<Void, any Error>

        init(server: TestServer, task: Task<Void, any Error>) {
            self.server = server
            self.task = task
        }

        func stop() async throws {
            await server.group.triggerGracefulShutdown()
            try await task.value
        }
    }

    static func start(_ configure: @Sendable (inout ServerConfiguration) -> Void = { _ in }) async throws -> Running {
        let config = testConfiguration(configure)
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let group = try Castbridge(config: config).makeServiceGroup(handleSignals: false) { portContinuation.yield($0) }
        let task = Task {
            defer { portContinuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestFailure("server did not start") }
        return Running(server: TestServer(port: port, group: group), task: task)
    }

    // MARK: HTTP

    struct HTTPResult: Sendable {
        var status: Int
        var contentType: String
        var body: String
        var headers: HTTPHeaders = [:]
        var json: JSONValue? { try? JSONValue.parse(Data(body.utf8)) }
    }

    static func request(
        _ method: HTTPMethod, _ url: String, body: String? = nil, contentType: String? = nil, bearer: String? = nil,
        authorization: String? = nil, headers: [(String, String)] = []
    ) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return HTTPResult(
            status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type") ?? "",
            body: String(buffer: bytes), headers: response.headers)
    }

    func post(_ path: String, form: [(String, String)], flavor: Flavor = .stu3) async throws -> HTTPResult {
        let body = FormBody.encode(form)
        return try await Self.request(.POST, "\(base)/fhircast/\(flavor.rawValue)\(path)", body: body, contentType: "application/x-www-form-urlencoded")
    }

    func postJSON(_ path: String = "", _ value: JSONValue, flavor: Flavor = .stu3, contentType: String = "application/json")
        async throws -> HTTPResult
    {
        let data = try JSONEncoder().encode(value)
        return try await Self.request(
            .POST, "\(base)/fhircast/\(flavor.rawValue)\(path)", body: String(decoding: data, as: UTF8.self), contentType: contentType)
    }

    func get(_ path: String) async throws -> HTTPResult {
        try await Self.request(.GET, "\(base)\(path)")
    }

    static func formEncode(_ s: String) -> String { FormBody.component(s) }

    /// Waits until no webhook intent verification is in flight (`/health`'s `verifying`), so that a webhook the callback
    /// confirmed is active before the test publishes. The callback seeing the challenge is not enough: the hub reads
    /// its answer afterwards, later still on a loaded machine.
    func untilVerified(timeout: Duration = .seconds(5)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await get("/health").json?["verifying"] == 0 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("a webhook verification was still in flight after \(timeout)")
    }

    /// Makes a topic exist (C36, C43), as the session's driving app does by subscribing: a websocket subscription to
    /// SyncError alone that never connects, so it receives none of the events a test counts.
    func openTopic(_ topic: String, flavor: Flavor = .stu3) async throws {
        _ = try await subscribe(topic: topic, events: "SyncError", name: "session-\(topic)", flavor: flavor)
    }

    /// Subscribes over websocket and returns the endpoint URL.
    func subscribe(
        topic: String, events: String, lease: Int? = nil, name: String? = nil, endpoint: String? = nil, flavor: Flavor = .stu3
    ) async throws -> String {
        var form = [("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", topic), ("hub.events", events)]
        if let lease { form.append(("hub.lease_seconds", String(lease))) }
        if let name { form.append(("subscriber.name", name)) }
        if let endpoint { form.append(("hub.channel.endpoint", endpoint)) }
        let result = try await post("", form: form, flavor: flavor)
        guard result.status == 202, let url = result.json?["hub.channel.endpoint"]?.stringValue else {
            throw TestFailure("subscribe failed: \(result.status) \(result.body)")
        }
        return url
    }

    /// Subscribes, connects, and reads the confirmation frame.
    func subscriber(
        topic: String, events: String, lease: Int? = nil, name: String? = nil, flavor: Flavor = .stu3
    ) async throws -> (socket: TestSocket, endpoint: String, confirmation: JSONValue) {
        let endpoint = try await subscribe(topic: topic, events: events, lease: lease, name: name, flavor: flavor)
        let socket = try await TestSocket.connect(endpoint)
        guard let confirmation = try await socket.nextJSON() else { throw TestFailure("no confirmation frame") }
        return (socket, endpoint, confirmation)
    }

    func publish(_ notification: JSONValue, flavor: Flavor = .stu3) async throws -> HTTPResult {
        try await postJSON("", notification, flavor: flavor)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Builders for FHIRcast notifications used across tests.
enum Events {
    static func notification(
        _ name: String, topic: String, id: String = UUID().uuidString, timestamp: String = "2026-01-08T01:37:05.14Z",
        context: [JSONValue], extra: [String: JSONValue] = [:]
    ) -> JSONValue {
        var event: [String: JSONValue] = ["hub.topic": .string(topic), "hub.event": .string(name), "context": .array(context)]
        for (k, v) in extra { event[k] = v }
        return ["timestamp": .string(timestamp), "id": .string(id), "event": .object(event)]
    }

    static func patient(_ id: String) -> JSONValue {
        ["key": "patient", "resource": ["resourceType": "Patient", "id": .string(id)]]
    }

    static func patientOpen(topic: String, patient: String = "p1", id: String = UUID().uuidString, timestamp: String = "2026-01-08T01:37:05.140Z") -> JSONValue {
        notification("Patient-open", topic: topic, id: id, timestamp: timestamp, context: [Self.patient(patient)])
    }

    static func patientClose(topic: String, patient: String = "p1", id: String = UUID().uuidString) -> JSONValue {
        notification("Patient-close", topic: topic, id: id, context: [Self.patient(patient)])
    }

    static func reportOpen(topic: String, report: String = "r1", id: String = UUID().uuidString) -> JSONValue {
        notification(
            "DiagnosticReport-open", topic: topic, id: id,
            context: [
                ["key": "report", "resource": ["resourceType": "DiagnosticReport", "id": .string(report), "status": "unknown"]],
                patient("p1"),
                ["key": "study", "resource": ["resourceType": "ImagingStudy", "id": "s1"]],
            ])
    }

    static func reportUpdate(topic: String, report: String = "r1", version: String, entries: [JSONValue], bundleID: String = "b1", id: String = UUID().uuidString) -> JSONValue {
        notification(
            "DiagnosticReport-update", topic: topic, id: id,
            context: [
                ["key": "report", "reference": ["reference": .string("DiagnosticReport/\(report)")]],
                ["key": "updates", "resource": ["resourceType": "Bundle", "id": .string(bundleID), "type": "transaction", "entry": .array(entries)]],
            ],
            extra: ["context.versionId": .string(version)])
    }

    static func observationPut(_ id: String, value: String = "x") -> JSONValue {
        ["request": ["method": "PUT"], "resource": ["resourceType": "Observation", "id": .string(id), "status": "preliminary", "valueString": .string(value)]]
    }
}
