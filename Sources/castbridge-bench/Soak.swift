import Foundation
import Synchronization

/// `--soak MINUTES`: a long run at a steady rate, watching the server for growth (Docs/reliability.md).
extension Bench {
    func soak(minutes: Double, binary: String) async throws -> Int {
        let target = try await makeTarget(binary: binary)
        defer { Task { await target.stop() } }
        let base = target.base
        let topic = uniqueTopic("soak")
        let stableCount = 10
        let window = SoakWindow(subscribers: stableCount)
        // Stable subscribers, FHIRcast (acknowledging) and Cast: each gets every event, half of them through the bridge.
        let stable = try await connectAll(stableCount) { i in
            let fhircast = i % 2 == 0
            return try await Subscriber.connect(
                kind: fhircast ? .fhircast : .cast, base: base, topic: topic, events: fhircast ? "Patient-open" : "patient-open",
                name: "stable-\(i)", maxEvents: 1, ack: true, onFrame: { window.record($0, subscriber: i) })
        }
        let client = try PublishClient(base: base)
        let shared = SoakShared()

        // The rate: given, or half of what the server takes flat out for 10 s.
        var rate = soakRate ?? 0
        if rate <= 0 {
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<publishers {
                    group.addTask {
                        while ContinuousClock.now - started < .seconds(10) {
                            let k = shared.next.add(1, ordering: .relaxed).oldValue
                            try await soakPublish(client, topic: topic, index: k)
                        }
                    }
                }
                try await group.waitForAll()
            }
            rate = Double(shared.next.load(ordering: .relaxed)) / 10 / 2
            try await Task.sleep(for: .seconds(3))
        }
        window.reset()
        let paceRate = rate
        let firstIndex = shared.next.load(ordering: .relaxed)
        print("castbridge-bench soak: \(String(format: "%.0f", rate)) events/s for \(minutes) min (warm-up \(soakWarmup) min), \(stableCount) stable subscribers, \(soakChurn > 0 ? "20 more joining and leaving, \(soakChurn) a second" : "none joining or leaving")")
        print("minute  published  RSS MiB  open fds  p99 ms  delivered (stable, min..max)")

        let start = ContinuousClock.now
        let end = start + .seconds(minutes * 60)
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Publishers, paced: event k goes at start + k / rate, alternately FHIRcast and Cast.
            for _ in 0..<max(1, publishers / 2) {
                group.addTask {
                    while true {
                        let k = shared.next.add(1, ordering: .relaxed).oldValue
                        let due = start + .seconds(Double(k - firstIndex) / paceRate)
                        guard due < end else { return }
                        try await Task.sleep(until: due, clock: .continuous)
                        try await soakPublish(client, topic: topic, index: k)
                        shared.published.add(1, ordering: .relaxed)
                    }
                }
            }
            // Subscribers joining and leaving: `soakChurn` join a second, and as each joins the oldest of 20 leaves.
            if soakChurn > 0 { group.addTask {
                var churn: [Subscriber] = []
                var n = 0
                while ContinuousClock.now < end {
                    n += 1
                    let fhircast = n % 2 == 0
                    do {
                        churn.append(try await Subscriber.connect(
                            kind: fhircast ? .fhircast : .cast, base: base, topic: topic, events: fhircast ? "Patient-open" : "patient-open",
                            name: "churn-\(n)", maxEvents: 1, ack: true))
                    } catch {
                        shared.churnFailures.add(1, ordering: .relaxed)
                    }
                    if churn.count > 20 { churn.removeFirst().beginClose() }
                    try await Task.sleep(for: .seconds(1 / soakChurn))
                }
                await closeAll(churn)
            } }
            // Every minute: memory, descriptors, latency.
            group.addTask {
                var minute = 0
                while ContinuousClock.now < end {
                    minute += 1
                    try await Task.sleep(until: min(start + .seconds(Double(minute) * 60), end), clock: .continuous)
                    let p99 = window.takeP99()
                    let rss = await target.rss() ?? 0
                    let fds = await target.openFiles() ?? 0
                    let delivered = window.delivered()
                    print(String(format: "%6d  %9d  %7.1f  %8d  %6.2f  %d..%d", minute, shared.published.load(ordering: .relaxed),
                        Double(rss) / 1048576, fds, p99 / 1000, delivered.min() ?? 0, delivered.max() ?? 0))
                    fflush(nil)  // a row as it comes, also when the output goes to a file
                    shared.readings.withLock { $0.append((minute, rss, fds)) }
                }
            }
            try await group.waitForAll()
        }
        let readings = shared.readings.withLock { $0 }
        // Every event in flight lands, then each stable subscriber must have had each once.
        let sentCount = shared.published.load(ordering: .relaxed)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, window.delivered().contains(where: { $0 < sentCount }) { try await Task.sleep(for: .milliseconds(100)) }
        await closeAll(stable)
        client.close()
        await target.stop()

        let delivered = window.delivered()
        let duplicates = window.duplicates()
        var failures = 0
        print("")
        print("published \(sentCount); each stable subscriber got \(delivered.min() ?? 0)..\(delivered.max() ?? 0); duplicates \(duplicates); churn connect failures \(shared.churnFailures.load(ordering: .relaxed))")
        if delivered.contains(where: { $0 != sentCount }) || duplicates > 0 {
            print("FAILED: events were lost or duplicated")
            failures += 1
        }
        let warm = Int(soakWarmup.rounded(.up))
        if let baseline = readings.first(where: { $0.minute == warm }), let last = readings.last, last.minute > warm {
            let rssGrowth = Double(last.rss - baseline.rss) / Double(max(1, baseline.rss))
            let fdGrowth = Double(last.fds - baseline.fds) / Double(max(1, baseline.fds))
            print(String(format: "after the warm-up (minute %d) → the end (minute %d): RSS %+.1f %%, open descriptors %+.1f %%",
                baseline.minute, last.minute, rssGrowth * 100, fdGrowth * 100))
            if rssGrowth > 0.05 || fdGrowth > 0.05 {
                print("FAILED: the server grew by more than 5 %")
                failures += 1
            }
        } else {
            print("(the run was too short to compare the end with the warm-up)")
        }
        return failures
    }
}

/// What the soak's tasks share: the next event index, failed joins, one reading per minute.
final class SoakShared: Sendable {
    let next = Atomic(0)
    /// Events the paced publishers sent (each answered 200).
    let published = Atomic(0)
    let churnFailures = Atomic(0)
    let readings = Mutex<[(minute: Int, rss: Int, fds: Int)]>([])
}

/// A soak event: its send time in its id, so that a receiver knows its latency without a shared table; `padding`
/// bytes of text make it larger.
func soakPublish(_ client: PublishClient, topic: String, index k: Int, padding: Int = 0) async throws {
    let id = "bench-\(k)-\(Int(Clock.now()))-\(topic)"
    let note = padding > 0 ? #","text":{"div":"\#(String(repeating: "x", count: padding))"}"# : ""
    let context = #"[{"key":"patient","resource":{"resourceType":"Patient","id":"p\#(k % 7)"\#(note)}}]"#
    if k % 2 == 0 {
        let body = #"{"timestamp":"\#(Publish.timestamp)","id":"\#(id)","event":{"hub.topic":"\#(topic)","hub.event":"Patient-open","context":\#(context)}}"#
        let r = try await client.post("/fhircast/STU3", body: body, contentType: "application/json")
        guard r.status == 200 else { throw BenchError("FHIRcast publish: \(r.status) \(r.body)") }
    } else {
        let body = #"{"timestamp":"\#(Publish.timestamp)","id":"\#(id)","subscriber.name":"soak-publisher","event":{"hub.topic":"\#(topic)","hub.event":"patient-open","context":\#(context)}}"#
        let r = try await client.post("/api/hub", body: body, contentType: "application/json")
        guard r.status == 200 else { throw BenchError("Cast publish: \(r.status) \(r.body)") }
    }
}

/// What the stable subscribers saw: per subscriber, the events (as a bit set, so duplicates show), and this minute's
/// latencies (at most 200,000 kept a minute).
final class SoakWindow: Sendable {
    private struct State {
        var seen: [[UInt64]]
        var counts: [Int]
        var duplicates = 0
        var latencies: [Double] = []
    }
    private let state: Mutex<State>

    init(subscribers: Int) {
        state = Mutex(State(seen: Array(repeating: [], count: subscribers), counts: Array(repeating: 0, count: subscribers)))
    }

    /// Forgets what came before (the rate measurement): only events from `reset` on count.
    func reset() {
        state.withLock { s in
            s.seen = s.seen.map { _ in [] }
            s.counts = s.counts.map { _ in 0 }
            s.duplicates = 0
            s.latencies = []
        }
    }

    func record(_ frame: String, subscriber: Int) {
        let now = Clock.now()
        guard let range = frame.range(of: #""id":"bench-"#) else { return }
        let parts = frame[range.upperBound...].split(separator: "-", maxSplits: 2)
        guard parts.count >= 2, let k = Int(parts[0]), let sent = Double(parts[1]) else { return }
        state.withLock { s in
            guard k >= 0 else { return }
            let word = k / 64
            if s.seen[subscriber].count <= word { s.seen[subscriber] += Array(repeating: 0, count: word - s.seen[subscriber].count + 1) }
            let bit = UInt64(1) << UInt64(k % 64)
            if s.seen[subscriber][word] & bit != 0 {
                s.duplicates += 1
                return
            }
            s.seen[subscriber][word] |= bit
            s.counts[subscriber] += 1
            if s.latencies.count < 200_000 { s.latencies.append(now - sent) }
        }
    }

    func takeP99() -> Double {
        let values = state.withLock { s -> [Double] in defer { s.latencies = [] }; return s.latencies }.sorted()
        guard !values.isEmpty else { return 0 }
        return values[min(values.count - 1, Int(Double(values.count) * 0.99))]
    }

    func delivered() -> [Int] { state.withLock { $0.counts } }
    func duplicates() -> Int { state.withLock { $0.duplicates } }
}
