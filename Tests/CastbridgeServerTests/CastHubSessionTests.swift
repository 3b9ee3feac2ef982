import CastClient
import CastbridgeServer
import FHIRcastCore
import Foundation
import Logging
import Synchronization
import NIOCore
import Testing

/// CastClient's `CastHubSession` against castbridge's embedded Cast hub, live: it stays subscribed through a restart
/// of the hub.
@Suite("CastClient session (live)")
struct CastHubSessionTests {
    static func envelope(_ id: String, topic: String) -> JSONValue {
        [
            "timestamp": "2026-01-01T00:00:00Z", "id": .string(id),
            "event": ["hub.topic": .string(topic), "hub.event": "imagingstudy-open", "context": []],
        ]
    }

    /// The session's events as they come, read by a task of their own, so that waiting for one is bounded.
    final class Inbox: Sendable {
        final class Buffer: Sendable {
            let events = Mutex<[CastHubSession.Event]>([])
        }
        private let buffer = Buffer()
        private let reader: Task<Void, Never>

        init(_ stream: AsyncStream<CastHubSession.Event>) {
            let buffer = self.buffer
            reader = Task { for await event in stream { buffer.events.withLock { $0.append(event) } } }
        }

        deinit { reader.cancel() }

        /// The next event that is not the hub's first frame; fails after `timeout`, a bound on liveness only: with the
        /// whole suite on 2 cores a server takes seconds to start, not milliseconds.
        func next(timeout: Duration = .seconds(30)) async throws -> CastHubSession.Event {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let event = buffer.events.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
                    if case .frame(let text) = event, String(buffer: text).contains("connection.established") { continue }
                    return event
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            throw TestFailure("no event from the session within \(timeout)")
        }
    }

    @Test("A session subscribes, binds and gets events; when the hub restarts on the same port it subscribes and binds again, and events flow")
    func staysSubscribed() async throws {
        let first = try await TestServer.start()
        let port = first.server.port
        let client = CastHubClient(url: first.server.base, auth: .none)
        let session = CastHubSession(
            client: client, fields: ["hub.mode": "subscribe", "hub.channel.type": "websocket", "hub.topic": "USER-9", "hub.events": "imagingstudy-open", "subscriber.name": "viewer"],
            reconnectBaseSeconds: 0.05, reconnectMaxSeconds: 0.2)
        let (events, sink) = AsyncStream<CastHubSession.Event>.makeStream()
        let running = Task { await session.run { sink.yield($0) } }
        defer { running.cancel() }
        let inbox = Inbox(events)

        guard case .connected = try await inbox.next() else { throw TestFailure("not connected first") }
        _ = await client.publish(Self.envelope("s-1", topic: "USER-9"))
        guard case .frame(let one) = try await inbox.next() else { throw TestFailure("no frame") }
        #expect(try JSONValue.parse(Data(String(buffer: one).utf8))["id"] == "s-1")

        try await first.stop()
        guard case .disconnected = try await inbox.next() else { throw TestFailure("the end of the socket was not reported") }
        let second = try await TestServer.start { $0.port = port }
        var connected = false
        while !connected {
            switch try await inbox.next() {
            case .connected: connected = true
            case .disconnected: continue  // attempts before the second hub listened
            case .frame: throw TestFailure("a frame before the session connected again")
            }
        }
        // The client's pooled connection may still be the first hub's, closed: that publish is certainly not taken
        // (`notSent`), and is sent again, as the bridge does.
        var outcome = await client.publish(Self.envelope("s-2", topic: "USER-9"))
        for _ in 0..<3 {
            guard case .notSent = outcome else { break }
            outcome = await client.publish(Self.envelope("s-2", topic: "USER-9"))
        }
        #expect(outcome == .sent)
        let after = try await inbox.next()
        guard case .frame(let two) = after else { throw TestFailure("no frame after the restart: \(after)") }
        #expect(try JSONValue.parse(Data(String(buffer: two).utf8))["id"] == "s-2")
        running.cancel()
        try await second.stop()
    }

    @Test("unsubscribe ends a subscription: the hub no longer asks it; a typed request's answer says who was expected")
    func unsubscribe() async throws {
        try await TestServer.with { server in
            let client = CastHubClient(url: server.base, auth: .none)
            let endpoint = try await client.subscribe(CastSubscriber(topic: "U3", events: ["status-request"], name: "leaving").fields)
            let socket = try await CastHubSocket.open(endpoint, maxFrameBytes: 1 << 20, logger: Logger(label: "test"), frames: { _ in true }, ended: {})
            defer { socket.close() }
            var before = try await client.request("STATUS", topic: "U3", from: "probe", timeoutSeconds: 0.2)
            for _ in 0..<50 where before.expected.isEmpty {
                try await Task.sleep(for: .milliseconds(20))
                before = try await client.request("STATUS", topic: "U3", from: "probe", timeoutSeconds: 0.2)
            }
            #expect(before.expected == ["leaving"])
            #expect(before.missing == ["leaving"] && before.timedOut && !before.ok)
            try await client.unsubscribe(endpoint: endpoint)
            let after = try await client.request("STATUS", topic: "U3", from: "probe", timeoutSeconds: 0.2)
            #expect(after.expected.isEmpty && after.ok)
        }
    }
}
