import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Synchronization

/// How many events all clients together have received (the publisher waits on it).
let deliveredTotal = Atomic<Int>(0)

/// One WebSocket client: records every `bench-<n>` event it receives and, for FHIRcast, acknowledges it.
struct Subscriber: Sendable {
    enum Kind: Sendable { case fhircast, cast }

    let receipts: Receipts
    private let outgoing: AsyncStream<String>.Continuation

    /// Subscribes on `topic`, connects, and returns once the first frame (confirmation or connection.established) came.
    static func connect(
        kind: Kind, base: String, topic: String, events: String, name: String, maxEvents: Int, ack: Bool,
        onFrame: (@Sendable (String) -> Void)? = nil
    ) async throws -> Subscriber {
        let endpoint: String
        switch kind {
        case .fhircast:
            let r = try await HTTP.request(
                .POST, "\(base)/fhircast/STU3",
                body: HTTP.form([("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", topic), ("hub.events", events), ("subscriber.name", name)]),
                contentType: "application/x-www-form-urlencoded")
            endpoint = try HTTP.endpoint(in: r.body)
        case .cast:
            let r = try await HTTP.request(
                .POST, "\(base)/api/hub",
                body: HTTP.form([("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", topic), ("hub.events", events), ("subscriber.name", name)]),
                contentType: "application/x-www-form-urlencoded")
            endpoint = try HTTP.endpoint(in: r.body)
        }
        return try await open(endpoint, maxEvents: maxEvents, ack: ack && kind == .fhircast, onFrame: onFrame)
    }

    /// Connects a socket; `onText` sees every text frame.
    static func open(_ url: String, maxEvents: Int, ack: Bool, onFrame: (@Sendable (String) -> Void)? = nil) async throws -> Subscriber {
        let receipts = Receipts(events: maxEvents)
        let (outgoing, continuation) = AsyncStream<String>.makeStream()
        let (ready, readyContinuation) = AsyncStream<Result<Void, BenchError>>.makeStream()
        var logger = Logger(label: "bench-client")
        logger.logLevel = .critical
        Task {
            do {
                try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 1 << 22), logger: logger) { inbound, outbound, _ in
                    var first = true
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await text in outgoing { try await outbound.write(.text(text)) }
                            // `close()`: the socket is closed, and the server ends its subscription.
                            try await outbound.close(.normalClosure, reason: nil)
                        }
                        for try await message in inbound.messages(maxSize: 1 << 24) {
                            guard case .text(let text) = message else { continue }
                            if first {
                                first = false
                                readyContinuation.yield(.success(()))
                                continue
                            }
                            let now = Clock.now()
                            onFrame?(text)
                            guard let index = benchIndex(in: text[...]) else { continue }
                            receipts.record(index, at: now)
                            deliveredTotal.add(1, ordering: .relaxed)
                            // Written inline: a hop through the writer task per ACK would charge the client's own
                            // scheduling to the measurement (both run on the same cores).
                            if ack { try await outbound.write(.text(#"{"id":"bench-\#(index)","status":200}"#)) }
                        }
                        group.cancelAll()
                    }
                }
            } catch {
                readyContinuation.yield(.failure(BenchError("socket \(url): \(error)")))
            }
            readyContinuation.finish()
        }
        for await result in ready {
            try result.get()
            return Subscriber(receipts: receipts, outgoing: continuation)
        }
        throw BenchError("socket \(url) closed before its first frame")
    }

    func send(_ text: String) { outgoing.yield(text) }
    /// Closes the socket.
    func close() { outgoing.finish() }
}

/// Connects `count` subscribers, `parallel` at a time.
func connectAll(
    _ count: Int, parallel: Int = 64, make: @escaping @Sendable (Int) async throws -> Subscriber
) async throws -> [Subscriber] {
    try await withThrowingTaskGroup(of: (Int, Subscriber).self) { group in
        var result = [Subscriber?](repeating: nil, count: count)
        var next = 0
        while next < min(parallel, count) {
            let i = next
            group.addTask { (i, try await make(i)) }
            next += 1
        }
        while let (i, s) = try await group.next() {
            result[i] = s
            if next < count {
                let j = next
                group.addTask { (j, try await make(j)) }
                next += 1
            }
        }
        return result.compactMap { $0 }
    }
}
