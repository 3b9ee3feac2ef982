import BridgeCore
import BridgeService
import CastService
import CoreMetrics
import FHIRcastCore
import FHIRcastService
import Metrics
import Prometheus
import ServiceSupport

/// `/metrics`: one Prometheus registry per castbridge. What happens (publishes, deliveries, latencies) is recorded as
/// it happens (`Telemetry`); what is a level (subscribers, queue depth, bytes held), and what the hubs count
/// themselves (SyncErrors by cause, the bridge's events), is read from them when Prometheus scrapes.
actor MetricsSampler {
    private let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    /// What the services record into.
    nonisolated let telemetry: Telemetry
    private var gauges: [String: CoreMetrics.Gauge] = [:]
    private var counters: [String: CoreMetrics.Counter] = [:]
    private var counted: [String: Int] = [:]

    /// Duration buckets, seconds: in-process deliveries take microseconds, a store write or an ACK milliseconds.
    static let durationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.durationBuckets
        self.factory = factory
        telemetry = Telemetry(factory: factory)
    }

    /// Reads the levels, then writes every metric in Prometheus' text format.
    func scrape(fhircast: FHIRcastHub, cast: CastHub?, bridge: CastBridge?) async -> [UInt8] {
        set("castbridge_build_info", [("version", CastbridgeVersion.current)], 1)
        let census = await fhircast.census
        set("castbridge_subscribers", [("hub", "fhircast"), ("channel", "websocket")], census.websocket)
        set("castbridge_subscribers", [("hub", "fhircast"), ("channel", "webhook")], census.webhook)
        set("castbridge_topics", [("hub", "fhircast")], census.topics)
        set("castbridge_awaiting_acks", [], await fhircast.awaitingAcks)
        let made = await fhircast.syncErrorsMade
        for cause in SyncErrorCause.allCases {
            count("castbridge_sync_errors_total", [("cause", cause.rawValue)], made[cause] ?? 0)
        }
        if let cast {
            let c = await cast.census
            set("castbridge_subscribers", [("hub", "cast"), ("channel", "websocket")], c.websocket)
            set("castbridge_subscribers", [("hub", "cast"), ("channel", "websub")], c.websub)
            set("castbridge_topics", [("hub", "cast")], c.topics)
            set("castbridge_cast_pending_requests", [], c.pendingRequests)
            set("castbridge_cast_conferences", [], c.conferences)
            set("castbridge_payload_store_bytes", [], await cast.payloadBytes())
        }
        if let bridge {
            let r = await bridge.reading()
            set("castbridge_bridge_queue_depth", [], r.queued)
            set("castbridge_bridge_queue_bytes", [], r.queuedBytes)
            set("castbridge_bridge_upstream_connected", [], r.connected ? 1 : 0)
            set("castbridge_bridge_leader", [], r.leading ? 1 : 0)
            count("castbridge_bridge_events_total", [("direction", "to_cast")], r.counters.toCast)
            count("castbridge_bridge_events_total", [("direction", "to_fhircast")], r.counters.toFHIRcast)
            count("castbridge_bridge_refused_total", [], r.counters.refused)
            count("castbridge_bridge_overflowed_total", [], r.overflowed)
        }
        return registry.emitToBuffer()
    }

    private func set(_ label: String, _ dimensions: [(String, String)], _ value: Int) {
        let key = Self.key(label, dimensions)
        let gauge = gauges[key] ?? CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: factory)
        gauges[key] = gauge
        gauge.record(value)
    }

    /// A count the hubs keep since they started, as a counter: increased by what it grew since the last scrape.
    private func count(_ label: String, _ dimensions: [(String, String)], _ total: Int) {
        let key = Self.key(label, dimensions)
        let counter = counters[key] ?? CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory)
        counters[key] = counter
        let grown = total - counted[key, default: 0]
        if grown > 0 { counter.increment(by: grown) }
        counted[key] = max(total, counted[key, default: 0])
    }

    private static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        ([label] + dimensions.map { "\($0.0)=\($0.1)" }).joined(separator: ",")
    }
}
