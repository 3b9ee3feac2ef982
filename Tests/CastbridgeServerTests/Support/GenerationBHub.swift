import BridgeService
import FHIRcastCore
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import NIOWebSocket

/// A generation B Cast hub for the bridge's tests, with the behaviour of castpw44 `app.py` (d28eaeb) that the bridge
/// depends on (cast-protocol.md §1.5): subscriptions match topics **literally** (`_subscription_handles_event`: `*` is
/// a topic like any other), events by substring; `POST /api/hub/{topic}` publishes; echo suppression by
/// `event.hub.source`, then root `subscriber`, then `publisher`; the socket URL says `wss` for any host that is not
/// localhost; a subscription goes when its socket does. Only what the tests use: no WebSub, binary or conferences.
final class GenerationBHub: Sendable {
    struct Subscription: Sendable {
        var topic: String
        var events: String
        var subscriber: String
        var socket: AsyncStream<String>.Continuation?
    }

    actor State {
        var subscriptions: [String: Subscription] = [:]

        func add(_ endpoint: String, _ sub: Subscription) { subscriptions[endpoint] = sub }

        /// False when the endpoint is unknown (the real hub keeps the socket open anyway; no test needs that).
        func bind(_ endpoint: String, _ socket: AsyncStream<String>.Continuation) -> Bool {
            guard subscriptions[endpoint] != nil else { return false }
            subscriptions[endpoint]?.socket = socket
            return true
        }

        func remove(_ endpoint: String) {
            subscriptions.removeValue(forKey: endpoint)?.socket?.finish()
        }

        func closeAll() {
            for sub in subscriptions.values { sub.socket?.finish() }
            subscriptions = [:]
        }

        func publish(_ text: String, topic: String, event: String, publisher: String?) -> Int {
            var sent = 0
            for sub in subscriptions.values where sub.topic == topic {
                let events = sub.events.lowercased()
                guard events.contains(event.lowercased()) || events.contains("*") else { continue }
                if let publisher, sub.subscriber.lowercased() == publisher.lowercased() { continue }
                if let socket = sub.socket, case .enqueued = socket.yield(text) { sent += 1 }
            }
            return sent
        }
    }

    let state: State
    private let service: LoopbackService
    var port: Int { service.port }

    private init(state: State, service: LoopbackService) {
        self.state = state
        self.service = service
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// Starts on `port` (0: any free one).
    static func start(port: Int = 0) async throws -> GenerationBHub {
        let state = State()
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.post("oauth/token") { _, _ in
            Self.json(["token_type": "Bearer", "expires_in": 3600, "access_token": "mock_access_token_1", "topic": "USER-1"])
        }
        router.get("api/hub/status") { _, _ in
            let subs = await state.subscriptions.values.map { sub -> JSONValue in
                ["topic": .string(sub.topic), "events": .string(sub.events), "subscriber": .string(sub.subscriber), "bound": .bool(sub.socket != nil)]
            }
            return Self.json(["subscriptions": .array(subs)])
        }
        router.post("api/hub") { request, context in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            if request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true {
                guard let form = try? FormFields.parse(body), form.value("hub.mode") == "subscribe" else { return Response(status: .badRequest) }
                let endpoint = UUID().uuidString.lowercased()
                await state.add(
                    endpoint,
                    Subscription(
                        topic: form.value("hub.topic") ?? "", events: form.value("hub.events") ?? "",
                        subscriber: form.value("subscriber.name") ?? "unknown"))
                let host = request.head.authority ?? "localhost"
                let scheme = host.lowercased().contains("localhost") ? "ws" : "wss"
                return Self.json(["hub.channel.endpoint": .string("\(scheme)://\(host)/bind/\(endpoint)")], status: .accepted)
            }
            return try await Self.publish(body, pathTopic: nil, state: state)
        }
        router.post("api/hub/:topic") { request, context in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            return try await Self.publish(body, pathTopic: context.parameters.get("topic"), state: state)
        }
        router.ws("bind/:endpoint") { inbound, outbound, context in
            let endpoint = context.requestContext.parameters.get("endpoint") ?? ""
            let (frames, socket) = AsyncStream<String>.makeStream()
            guard await state.bind(endpoint, socket) else { return }
            try await outbound.write(.text(#"{"type":"connection.established","endpoint":"\#(endpoint)","timestamp":"2026-01-01T00:00:00"}"#))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await _ in inbound.messages(maxSize: 1 << 20) {}
                }
                group.addTask {
                    for await text in frames { try await outbound.write(.text(text)) }
                    // The hub dropped the subscription (or stops): close the socket, so the client's answer ends the
                    // reader too (it does not end on cancellation alone).
                    try await outbound.close(.goingAway, reason: nil)
                }
                try await group.next()
                group.cancelAll()
            }
            await state.remove(endpoint)
        }
        var logger = Logger(label: "generation-b-hub")
        logger.logLevel = .critical
        let service = try await LoopbackService.start(logger: logger) { listening in
            Application(
                router: router, server: .http1WebSocketUpgrade(webSocketRouter: router),
                configuration: .init(address: .hostname("127.0.0.1", port: port)), onServerRunning: listening, logger: logger)
        }
        return GenerationBHub(state: state, service: service)
    }

    /// Stops serving: every socket ends, and with it its subscription.
    func stop() async {
        await state.closeAll()
        await service.stop()
    }

    /// The subscriptions whose subscriber is `name`, by topic.
    func topics(of name: String) async -> [String] {
        await state.subscriptions.values.filter { $0.subscriber == name && $0.socket != nil }.map(\.topic).sorted()
    }

    private static func publish(_ body: String, pathTopic: String?, state: State) async throws -> Response {
        guard case .object(var notification)? = try? JSONValue.parse(Data(body.utf8)), case .object(var event)? = notification["event"] else {
            return Response(status: .badRequest)
        }
        var topic = event["hub.topic"]?.stringValue ?? ""
        if topic.isEmpty, let pathTopic {
            topic = pathTopic
            event["hub.topic"] = .string(topic)
            notification["event"] = .object(event)
        }
        let publisher = [event["hub.source"], notification["subscriber"], notification["publisher"]]
            .compactMap { $0?.stringValue?.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty }
        let text = String(decoding: try JSONEncoder().encode(JSONValue.object(notification)), as: UTF8.self)
        _ = await state.publish(text, topic: topic, event: event["hub.event"]?.stringValue ?? "", publisher: publisher)
        return json(["status": "received"])
    }

    private static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONEncoder().encode(value)) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
