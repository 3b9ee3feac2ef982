import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// One measured run: latency of every delivery, of the last delivery of each event, and the tally.
struct RunResult {
    var all = Samples()
    var last = Samples()
    var tally: Tally
    var seconds: Double
}

/// Publishes events one at a time, each after the previous one reached every receiver (or 10 s passed).
func sequentialRun(
    events: Range<Int>, receivers: [Subscriber], publish: @escaping @Sendable (Int) async throws -> Void
) async throws -> RunResult {
    var sent = [Double](repeating: 0, count: events.upperBound)
    let started = Clock.now()
    for i in events {
        let expected = arrivals.count + receivers.count
        sent[i] = Clock.now()
        try await publish(i)
        await arrivals.wait(for: expected, timeout: .seconds(10))
        if let broken = arrivals.brokenSocket { throw BenchError(broken) }
    }
    let seconds = (Clock.now() - started) / 1e6
    return collect(events: events, receivers: receivers, sent: sent, seconds: seconds)
}

/// Publishes events as fast as `publishers` concurrent publishers can, then waits for the deliveries.
func saturationRun(
    events: Range<Int>, receivers: [Subscriber], publishers: Int, publish: @escaping @Sendable (Int) async throws -> Void
) async throws -> RunResult {
    let expected = arrivals.count + receivers.count * events.count
    let sentTimes = Shared(times: [Double](repeating: 0, count: events.upperBound), next: events.lowerBound)
    let started = Clock.now()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<publishers {
            group.addTask {
                while true {
                    let i = sentTimes.next.add(1, ordering: .relaxed).oldValue
                    guard i < events.upperBound else { return }
                    let t = Clock.now()
                    sentTimes.times.withLock { $0[i] = t }
                    try await publish(i)
                }
            }
        }
        try await group.waitForAll()
    }
    await arrivals.wait(for: expected, timeout: .seconds(60))
    if let broken = arrivals.brokenSocket { throw BenchError(broken) }
    let sent = sentTimes.times.withLock { $0 }
    var lastReceive = started
    for r in receivers { for i in events { lastReceive = max(lastReceive, r.receipts.snapshot().times[i]) } }
    return collect(events: events, receivers: receivers, sent: sent, seconds: (lastReceive - started) / 1e6)
}

/// Send times and the next event to publish, shared by concurrent publishers.
private final class Shared: Sendable {
    let times: Mutex<[Double]>
    let next: Atomic<Int>

    init(times: [Double], next: Int) {
        self.times = Mutex(times)
        self.next = Atomic(next)
    }
}

private func collect(events: Range<Int>, receivers: [Subscriber], sent: [Double], seconds: Double) -> RunResult {
    var result = RunResult(tally: Tally(receivers.map(\.receipts), events: events), seconds: seconds)
    var lastPerEvent = [Double](repeating: 0, count: events.upperBound)
    var all: [Double] = []
    all.reserveCapacity(receivers.count * events.count)
    for r in receivers {
        let (counts, times) = r.receipts.snapshot()
        for i in events where counts[i] > 0 {
            let latency = times[i] - sent[i]
            all.append(latency)
            lastPerEvent[i] = max(lastPerEvent[i], latency)
        }
    }
    result.all.add(contentsOf: all)
    for i in events where lastPerEvent[i] > 0 { result.last.add(lastPerEvent[i]) }
    return result
}

// MARK: Publishers

enum Publish {
    static let timestamp = "2026-11-22T10:00:00Z"

    static func fhircast(_ client: PublishClient, topic: String) -> @Sendable (Int) async throws -> Void {
        { i in
            let body = #"{"timestamp":"\#(timestamp)","id":"bench-\#(i)-\#(topic)","event":{"hub.topic":"\#(topic)","hub.event":"Patient-open","context":[{"key":"patient","resource":{"resourceType":"Patient","id":"p\#(i % 7)"}}]}}"#
            let r = try await client.post("/fhircast/STU3", body: body, contentType: "application/json")
            guard r.status == 200 else { throw BenchError("FHIRcast publish: \(r.status) \(r.body)") }
        }
    }

    static func cast(_ client: PublishClient, topic: String) -> @Sendable (Int) async throws -> Void {
        { i in
            let body = #"{"timestamp":"\#(timestamp)","id":"bench-\#(i)-\#(topic)","subscriber.name":"bench-publisher","event":{"hub.topic":"\#(topic)","hub.event":"patient-open","context":[{"key":"patient","resource":{"resourceType":"Patient","id":"p\#(i % 7)"}}]}}"#
            let r = try await client.post("/api/hub", body: body, contentType: "application/json")
            guard r.status == 200 else { throw BenchError("Cast publish: \(r.status) \(r.body)") }
        }
    }
}
