import NIOCore

/// Where a subscription's events go: a websocket connection, a webhook worker, or anything else that takes them in
/// order (an in-process subscriber). Each sink is bounded on its own, so a slow subscriber never delays the others;
/// `enqueue` never waits.
package protocol DeliverySink: Sendable {
    /// Queues an event, or adds its writes to `round` (carried out by the caller's `submit` once the fan-out is done).
    /// False when the sink is full: the subscriber is too slow and must be dropped.
    func enqueue(_ event: OutboundEvent, into round: inout DeliveryRound) -> Bool
    /// Sends a denial (websocket: a `denied` frame) and ends the channel normally.
    func deny(frame: ByteBuffer)
    /// Ends the channel because the server is stopping (websocket close 1001). A websocket's future completes once
    /// its close frame is written (or cannot be).
    func shutdown() -> EventLoopFuture<Void>?
    /// Ends the channel at once, dropping what is queued (overflow, duplicate connection).
    func abort()
    /// Events handed over and not yet taken by the subscriber (the admin console's backlog).
    var queued: Int { get }
}
