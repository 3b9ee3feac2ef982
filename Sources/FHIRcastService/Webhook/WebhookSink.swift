import ServiceSupport
import WebSocketTransport
import FHIRcastCore
import NIOCore
import Synchronization

/// Shared flags of a webhook worker.
package final class WebhookWorkerState: Sendable {
    private let aborted = Mutex(false)
    package var isAborted: Bool { aborted.withLock { $0 } }
    package func abort() { aborted.withLock { $0 = true } }
    /// Events queued and not yet delivered or given up (the admin console's backlog).
    package let queued = Atomic<Int>(0)
}

/// The deadline after which work left at shutdown is abandoned.
package final class ShutdownDeadline: Sendable {
    private let deadline = Mutex<ContinuousClock.Instant?>(nil)
    package func start(grace: Duration) { deadline.withLock { $0 = .now + grace } }
    /// Time left before abandoning, or nil when not shutting down.
    package var remaining: Duration? { deadline.withLock { $0.map { $0 - .now } } }
}

/// The sink of a webhook subscriber: a bounded queue drained in order by one worker, so a slow or dead
/// callback delays only itself.
package struct WebhookSink: DeliverySink {
    package let continuation: AsyncStream<OutboundEvent>.Continuation
    package let state: WebhookWorkerState

    package func enqueue(_ event: OutboundEvent, into round: inout DeliveryRound) -> Bool {
        state.queued.add(1, ordering: .relaxed)
        if case .enqueued = continuation.yield(event) { return true }
        state.queued.subtract(1, ordering: .relaxed)
        return false
    }

    package var queued: Int { state.queued.load(ordering: .relaxed) }
    /// The hub sends the GET denial itself; the worker just stops after what is queued.
    package func deny(frame: ByteBuffer) { continuation.finish() }
    package func shutdown() -> EventLoopFuture<Void>? {
        continuation.finish()
        return nil
    }
    package func abort() {
        state.abort()
        continuation.finish()
    }
}

/// Drains one webhook subscriber's queue: signed POSTs in order, bounded retries with doubling backoff on
/// 5xx and timeouts, results reported to the hub.
package struct WebhookWorker: Sendable {
    package let subscription: SubscriptionID
    package let callback: String
    package let secret: String
    package let client: WebhookClient
    package let attempts: Int
    package let backoff: Duration
    package let shutdown: ShutdownDeadline
    package let state: WebhookWorkerState
    /// `castbridge_webhook_deliveries_total`.
    package var telemetry = Telemetry.disabled

    package func run(_ events: AsyncStream<OutboundEvent>, hub: some WebhookOutcomes) async {
        for await event in events {
            defer { state.queued.subtract(1, ordering: .relaxed) }
            if state.isAborted { return }
            var delay = backoff
            var attempt = 0
            delivery: while true {
                attempt += 1
                var timeout = client.timeout
                if let left = shutdown.remaining {
                    guard left > .zero else { return }  // abandoned at shutdown
                    timeout = min(timeout, TimeAmount(left))
                }
                switch await client.deliver(event.body, callback: callback, secret: secret, timeout: timeout) {
                case .delivered:
                    telemetry.webhookDelivered.add()
                    break delivery
                case .refused(let status):
                    telemetry.webhookRefused.add()
                    await hub.webhookRefused(subscription, event: event, status: status)
                    break delivery
                case .failed(let reason):
                    if attempt >= attempts || state.isAborted || shutdown.remaining != nil {
                        telemetry.webhookFailed.add()
                        if shutdown.remaining == nil {
                            await hub.webhookUnresponsive(subscription, event: event, reason: "\(attempt) delivery attempts failed, last: \(reason)")
                        }
                        return
                    }
                    telemetry.webhookRetried.add()
                    try? await Task.sleep(for: delay)
                    delay *= 2
                }
            }
        }
    }
}
