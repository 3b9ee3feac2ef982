import FHIRcastCore
import Foundation
import Logging
import NIOCore

/// A Cast app's subscription that outlives its socket. On a Cast hub a subscription ends with its socket
/// (cast-protocol.md §1.3), so staying subscribed through a hub restart or a network drop means subscribing and
/// binding again: this does both, with exponential backoff and jitter, until the task running it is cancelled.
///
/// ```swift
/// let client = CastHubClient(url: "http://127.0.0.1:2018", auth: .bearer("…"))
/// let session = CastHubSession(client: client, fields: ["hub.topic": "USER-1", "hub.events": "imagingstudy-open", "subscriber.name": "viewer"])
/// await session.run { event in
///     if case .frame(let text) = event { print(String(buffer: text)) }
/// }
/// ```
public struct CastHubSession: Sendable {
    public enum Event: Sendable {
        /// Subscribed and bound: the hub's first frame (`connection.established`, sent once it has bound the socket)
        /// came, and is passed on next. Events published from now on reach this subscriber. `endpoint` is the socket
        /// URL the hub gave.
        /// `socket` sends frames to the hub on this binding (a request's response); it is gone at the next
        /// `disconnected`.
        case connected(endpoint: String, socket: CastHubSocket)
        /// One text frame from the hub (the hub's pings are answered, not passed on).
        case frame(ByteBuffer)
        /// The socket ended, or the hub could not be reached or refused: a new attempt follows after `retryIn` seconds.
        case disconnected(reason: String, retryIn: Double)
    }

    public let client: CastHubClient
    /// The subscribe form: `hub.topic`, `hub.events`, `subscriber.name` and whatever else the hub takes.
    public let fields: [String: String]
    public var reconnectBaseSeconds: Double
    public var reconnectMaxSeconds: Double
    public var maxFrameBytes: Int
    /// Frames held for a slow `handle` before the socket is ended as fallen behind (it then reconnects).
    public var frameBuffer: Int
    public var logger: Logger

    /// A session for a typed subscriber.
    public init(client: CastHubClient, subscriber: CastSubscriber, reconnectBaseSeconds: Double = 0.5, reconnectMaxSeconds: Double = 30, logger: Logger = Logger(label: "castclient")) {
        self.init(client: client, fields: subscriber.fields, reconnectBaseSeconds: reconnectBaseSeconds, reconnectMaxSeconds: reconnectMaxSeconds, logger: logger)
    }

    public init(
        client: CastHubClient, fields: [String: String], reconnectBaseSeconds: Double = 0.5, reconnectMaxSeconds: Double = 30,
        maxFrameBytes: Int = 16 << 20, frameBuffer: Int = 10_000, logger: Logger = Logger(label: "castclient")
    ) {
        self.client = client
        self.fields = fields
        self.reconnectBaseSeconds = reconnectBaseSeconds
        self.reconnectMaxSeconds = reconnectMaxSeconds
        self.maxFrameBytes = maxFrameBytes
        self.frameBuffer = frameBuffer
        self.logger = logger
    }

    /// Runs until cancelled, passing each event to `handle` in order; a frame is handled before the next is read.
    public func run(_ handle: @Sendable (Event) async -> Void) async {
        var backoff = Backoff(base: reconnectBaseSeconds, max: reconnectMaxSeconds)
        while !Task.isCancelled {
            var reason: String
            do {
                let endpoint = try await client.subscribe(fields)
                let (frames, sink) = AsyncStream<ByteBuffer>.makeStream(bufferingPolicy: .bufferingOldest(max(1, frameBuffer)))
                let socket = try await CastHubSocket.open(
                    endpoint, maxFrameBytes: maxFrameBytes, logger: logger,
                    frames: { text in
                        if case .enqueued = sink.yield(text) { return true }
                        return false
                    },
                    ended: { sink.finish() })
                await withTaskCancellationHandler {
                    var bound = false
                    for await frame in frames {
                        if !bound {
                            bound = true
                            backoff.reset()
                            await handle(.connected(endpoint: endpoint, socket: socket))
                        }
                        await handle(.frame(frame))
                    }
                } onCancel: {
                    socket.close()
                }
                reason = "the Cast hub's socket closed"
            } catch {
                reason = "\(error)"
            }
            guard !Task.isCancelled else { return }
            let delay = backoff.next(unit: Double.random(in: 0..<1))
            await handle(.disconnected(reason: reason, retryIn: delay))
            do { try await Task.sleep(for: .seconds(delay)) } catch { return }
        }
    }
}
