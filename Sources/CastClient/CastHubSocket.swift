import FHIRcastCore
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket

/// One bound socket on a Cast hub (cast-protocol.md §1.3): its text frames go to the caller's `frames`, the hub's
/// JSON pings are answered, and `ended` runs once when the socket is gone, whichever side ends it.
public struct CastHubSocket: Sendable {
    /// Queues one text frame; false when the socket is gone or its queue is full.
    public let send: @Sendable (String) -> Bool
    /// Closes the socket (normal closure); `ended` still runs.
    public let close: @Sendable () -> Void

    private enum Opening: Sendable {
        case opened
        case failed(String)
    }

    public struct OpenFailed: Error, CustomStringConvertible {
        public var description: String
    }

    /// Connects and returns once the socket is open.
    public static func open(
        _ url: String, maxFrameBytes: Int, logger: Logger, frames take: @escaping @Sendable (ByteBuffer) -> Bool,
        ended: @escaping @Sendable () -> Void
    ) async throws -> CastHubSocket {
        let (outgoing, outgoingSink) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingOldest(10_000))
        let (events, eventSink) = AsyncStream<Opening>.makeStream()
        let task = Task {
            do {
                // Protocol pings find a hub that vanished without closing (the reference pings every 20 s too).
                try await WebSocketClient.connect(
                    url: url, configuration: .init(maxFrameSize: maxFrameBytes, autoPing: .enabled(timePeriod: .seconds(20))),
                    logger: logger
                ) { inbound, outbound, _ in
                    eventSink.yield(.opened)
                    // The old bind step: the hub only logs it, but clients send it (§1.3).
                    try await outbound.write(.text(#"{"hub.channel.endpoint":"\#(url)"}"#))
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await message in inbound.messages(maxSize: maxFrameBytes) {
                                guard case .text(let text) = message else { continue }  // gen B binary frames: unused
                                if text.contains(#""type""#), let value = try? JSONValue.parse(Data(text.utf8)),
                                    value["type"]?.stringValue == "ping"
                                {
                                    outgoingSink.yield(#"{"type":"pong","timestamp":"\#(Timestamp.format(Date()))"}"#)
                                    continue
                                }
                                guard take(ByteBuffer(string: text)) else {
                                    throw OpenFailed(description: "the client fell behind the Cast hub")
                                }
                            }
                        }
                        group.addTask {
                            for await text in outgoing { try await outbound.write(.text(text)) }
                            try await outbound.close(.normalClosure, reason: nil)
                        }
                        try await group.next()
                        group.cancelAll()
                    }
                }
            } catch {
                eventSink.yield(.failed("\(error)"))
            }
            eventSink.finish()
            ended()
        }
        for await event in events {
            switch event {
            case .opened:
                return CastHubSocket(
                    send: { text in
                        if case .enqueued = outgoingSink.yield(text) { return true }
                        return false
                    },
                    close: {
                        outgoingSink.finish()
                        task.cancel()
                    })
            case .failed(let why):
                throw OpenFailed(description: "the Cast hub's socket \(url) could not be opened: \(why)")
            }
        }
        throw OpenFailed(description: "the Cast hub's socket \(url) closed at once")
    }
}
