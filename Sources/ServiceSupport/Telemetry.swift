import CoreMetrics
import Metrics

/// The metrics the services record as things happen (Docs/operations.md lists each one). Made once per castbridge
/// from a swift-metrics factory, so that every process, and every test server in one process, has its own registry;
/// `disabled` records nothing. What is a level rather than a happening (subscribers, queue depth, bytes held) is not
/// here: it is read from the hubs when metrics are scraped (`MetricsSampler`).
package struct Telemetry: Sendable {
    /// `castbridge_publishes_total{hub, outcome}`: publishes taken (`accepted`) or answered with an error (`refused`).
    package let fhircastPublishes: Outcomes
    package let castPublishes: Outcomes
    /// `castbridge_deliveries_total{hub, outcome}`: events handed to a subscriber's channel (`sent`) or not, because
    /// its send buffer was full (`dropped`, and the subscriber is removed).
    package let fhircastDeliveries: Outcomes
    package let castDeliveries: Outcomes
    /// `castbridge_delivery_latency_seconds{hub}`: from a publish reaching the hub to its last delivery handed to the
    /// subscribers' channels, for events this node took.
    package let fhircastDeliveryLatency: Latency
    package let castDeliveryLatency: Latency
    /// `castbridge_ack_latency_seconds`: from a FHIRcast WebSocket event sent to its ACK.
    package let ackLatency: Latency
    /// `castbridge_webhook_deliveries_total{outcome}`: `delivered`, `retried`, `refused` (a 4xx) or `failed`.
    package let webhookDelivered: Tally
    package let webhookRetried: Tally
    package let webhookRefused: Tally
    package let webhookFailed: Tally
    /// `castbridge_cast_requests_total{outcome}`: Cast requests answered, timed out, or with no one to answer.
    package let castRequestsAnswered: Tally
    package let castRequestsTimedOut: Tally
    package let castRequestsUnanswerable: Tally
    /// `castbridge_bridge_reconnects_total`: connections the bridge made to its Cast hub after the first.
    package let bridgeReconnects: Tally
    /// `castbridge_store_operation_duration_seconds{store, operation}`: one write of the FHIRcast hub's changes, one
    /// message told to the Cast hub's other nodes.
    package let storeWrite: Latency
    package let castStoreTell: Latency

    /// A pair of counters of one metric: what went through, and what did not.
    package struct Outcomes: Sendable {
        package let success: Tally
        package let failure: Tally
    }

    package init(factory: any MetricsFactory) {
        func outcomes(_ label: String, hub: String, _ success: String, _ failure: String) -> Outcomes {
            Outcomes(
                success: Tally(Counter(label: label, dimensions: [("hub", hub), ("outcome", success)], factory: factory)),
                failure: Tally(Counter(label: label, dimensions: [("hub", hub), ("outcome", failure)], factory: factory)))
        }
        func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Tally {
            Tally(Counter(label: label, dimensions: dimensions, factory: factory))
        }
        func timer(_ label: String, _ dimensions: [(String, String)] = []) -> Latency {
            Latency(Metrics.Timer(label: label, dimensions: dimensions, preferredDisplayUnit: .seconds, factory: factory))
        }
        fhircastPublishes = outcomes("castbridge_publishes_total", hub: "fhircast", "accepted", "refused")
        castPublishes = outcomes("castbridge_publishes_total", hub: "cast", "accepted", "refused")
        fhircastDeliveries = outcomes("castbridge_deliveries_total", hub: "fhircast", "sent", "dropped")
        castDeliveries = outcomes("castbridge_deliveries_total", hub: "cast", "sent", "dropped")
        fhircastDeliveryLatency = timer("castbridge_delivery_latency_seconds", [("hub", "fhircast")])
        castDeliveryLatency = timer("castbridge_delivery_latency_seconds", [("hub", "cast")])
        ackLatency = timer("castbridge_ack_latency_seconds")
        webhookDelivered = counter("castbridge_webhook_deliveries_total", [("outcome", "delivered")])
        webhookRetried = counter("castbridge_webhook_deliveries_total", [("outcome", "retried")])
        webhookRefused = counter("castbridge_webhook_deliveries_total", [("outcome", "refused")])
        webhookFailed = counter("castbridge_webhook_deliveries_total", [("outcome", "failed")])
        castRequestsAnswered = counter("castbridge_cast_requests_total", [("outcome", "answered")])
        castRequestsTimedOut = counter("castbridge_cast_requests_total", [("outcome", "timeout")])
        castRequestsUnanswerable = counter("castbridge_cast_requests_total", [("outcome", "no_responder")])
        bridgeReconnects = counter("castbridge_bridge_reconnects_total")
        storeWrite = timer("castbridge_store_operation_duration_seconds", [("operation", "fhircast_write")])
        castStoreTell = timer("castbridge_store_operation_duration_seconds", [("operation", "cast_tell")])
    }

    /// Records nothing (services made without a castbridge around them, in tests).
    package static let disabled = Telemetry(factory: NOOPMetricsHandler.instance)
}

/// A counter the services add to, without knowing swift-metrics.
package struct Tally: Sendable {
    private let counter: Counter
    init(_ counter: Counter) { self.counter = counter }
    package func add(_ n: Int = 1) {
        if n > 0 { counter.increment(by: n) }
    }
}

/// A histogram of durations the services record into, without knowing swift-metrics.
package struct Latency: Sendable {
    private let timer: Metrics.Timer
    init(_ timer: Metrics.Timer) { self.timer = timer }
    /// Records the time since `start`.
    package func record(since start: ContinuousClock.Instant) { timer.record(duration: ContinuousClock.now - start) }
    package func record(seconds: Double) { timer.recordSeconds(seconds) }
}
