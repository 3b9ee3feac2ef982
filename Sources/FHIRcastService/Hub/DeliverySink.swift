import NIOCore
import WebSocketTransport

/// One encoded event on its way to one subscriber.
package struct OutboundEvent: Sendable {
    package var message: TextMessage
    package var body: ByteBuffer { message.payload }
    package var eventID: String
    package var eventName: String
}

/// Where a subscription's events go: a websocket connection or a webhook worker. Each sink is bounded on its own,
/// so a slow subscriber never delays the others; `enqueue` never waits.
package protocol DeliverySink: Sendable {
    /// Queues an event, or adds it to `batch` (websockets: written by the caller's `submit`, one event-loop task per
    /// loop). False when the sink is full: the subscriber is too slow and must be dropped.
    func enqueue(_ event: OutboundEvent, into batch: inout WriteBatch) -> Bool
    /// Sends a denial (websocket: a `denied` frame) and ends the channel normally.
    func deny(frame: ByteBuffer)
    /// Ends the channel because the server is stopping (websocket close 1001). A websocket's future completes once
    /// its close frame is written (or cannot be).
    func shutdown() -> EventLoopFuture<Void>?
    /// Ends the channel at once, dropping what is queued (overflow, duplicate connection).
    func abort()
}

extension WebSocketSink: DeliverySink {
    package func enqueue(_ event: OutboundEvent, into batch: inout WriteBatch) -> Bool { enqueue(event.message, into: &batch) }
}
