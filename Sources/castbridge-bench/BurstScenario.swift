import Foundation
import NIOCore
import NIOHTTP1

/// `--scenarios burst` (Docs/reliability.md): `--burst-subscribers` subscribers, half FHIRcast and half Cast, 100 to
/// a topic (a hospital's workstations coming back at once, each user's apps on the user's topic), subscribe and then
/// open their sockets all at once; each must be connected, get one event from each side once, and, when all
/// disconnect at once, the server must let every subscription go and come back to the descriptors it had before.
/// The server keeps answering `/health` throughout; its slowest answer is reported.
extension Bench {
    func burst(binary: String, count: Int) async throws -> Int {
        let target = try await makeTarget(binary: binary)
        defer { Task { await target.stop() } }
        let base = target.base
        let run = uniqueTopic("burst")
        let perTopic = 100
        let topics = (0..<(count + perTopic - 1) / perTopic).map { "\(run)-\($0)" }
        let rssStart = await target.rss() ?? 0

        // Subscribing is ordinary HTTP, 64 requests at a time; the sockets are what arrive at once.
        let subscribeStart = ContinuousClock.now
        let endpoints = try await inParallel(count, parallel: 64) { i in
            let fhircast = i % 2 == 0
            return try await Subscriber.subscribe(
                kind: fhircast ? .fhircast : .cast, base: base, topic: topics[i / perTopic], events: fhircast ? "Patient-open" : "patient-open",
                name: "burst-\(i)")
        }
        let subscribed = ContinuousClock.now - subscribeStart
        // The baseline: after the subscribes, so that it counts the HTTP client's pooled connections (up to 8, kept
        // alive, and used again by the checks below).
        let fdsStart = await target.openFiles() ?? 0

        // Every socket at once, while /health is asked every 100 ms.
        let health = HealthProbe(base: base)
        let probing = Task { await health.run() }
        let connectStart = ContinuousClock.now
        let outcomes = await withTaskGroup(of: (Result<Subscriber, any Error>, Double).self) { group in
            for (i, endpoint) in endpoints.enumerated() {
                group.addTask {
                    let started = Clock.now()
                    do {
                        let s = try await Subscriber.open(endpoint, maxEvents: 2, ack: i % 2 == 0)
                        return (.success(s), Clock.now() - started)
                    } catch {
                        return (.failure(error), Clock.now() - started)
                    }
                }
            }
            var all: [(Result<Subscriber, any Error>, Double)] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        let connectedIn = ContinuousClock.now - connectStart
        let subscribers = outcomes.compactMap { try? $0.0.get() }
        var connectTimes = Samples()
        for outcome in outcomes { connectTimes.add(outcome.1) }
        let failures = outcomes.compactMap { outcome -> String? in
            if case .failure(let error) = outcome.0 { return "\(error)" }
            return nil
        }
        let rssConnected = await target.rss() ?? 0
        let fdsConnected = await target.openFiles() ?? 0

        // One event from each side on each topic: every subscriber gets both, once (half of them through the bridge).
        let client = try PublishClient(base: base)
        let before = arrivals.count
        for topic in topics {
            try await soakPublish(client, topic: topic, index: 0)
            try await soakPublish(client, topic: topic, index: 1)
        }
        await arrivals.wait(for: before + 2 * subscribers.count, timeout: .seconds(60))
        let tally = Tally(subscribers.map(\.receipts), events: 0..<2)

        client.close()
        // Every socket closed at once; the server must forget each subscription and close each descriptor (allowing
        // for the HTTP client opening more of its 8 pooled connections meanwhile).
        let closeStart = ContinuousClock.now
        for s in subscribers { s.beginClose() }
        for s in subscribers { await s.closed() }
        var drained = false
        var fdsEnd = 0
        var left = (fhircast: -1, cast: -1)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            left = try await Self.subscriptionsLeft(base: base, prefix: "burst-")
            fdsEnd = await target.openFiles() ?? 0
            if left == (0, 0), fdsEnd <= fdsStart + 8 {
                drained = true
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let drainedIn = ContinuousClock.now - closeStart
        probing.cancel()
        let healthWorst = await probing.value
        let rssEnd = await target.rss() ?? 0
        await target.stop()

        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        print("")
        print("Burst: \(count) subscribers (half FHIRcast, half Cast; \(perTopic) to a topic) connect at once, get an event from each side, disconnect at once:")
        print(String(format: "  subscribed in %.1f s (64 requests at a time); all %d sockets opened at once: connected in %.1f s", seconds(subscribed), count, seconds(connectedIn)))
        print("  time to the first frame per socket: \(connectTimes.summary)")
        print("  connected \(subscribers.count), failed \(failures.count)\(failures.first.map { " (first: \($0))" } ?? "")")
        print("  deliveries: \(tally)")
        print(String(format: "  all closed at once: the server %@ in %.1f s (subscriptions left: FHIRcast %d, Cast %d; descriptors %d once subscribed, %d connected, %d at the end)",
            drained ? "let every one go" : "HAD NOT LET THEM ALL GO", seconds(drainedIn), left.fhircast, left.cast, fdsStart, fdsConnected, fdsEnd))
        print(String(format: "  server RSS: %.1f MiB at the start, %.1f MiB connected, %.1f MiB at the end", Double(rssStart) / 1048576, Double(rssConnected) / 1048576, Double(rssEnd) / 1048576))
        print(String(format: "  /health during the burst: slowest answer %.0f ms%@", healthWorst.slowest * 1000, healthWorst.failed > 0 ? ", \(healthWorst.failed) unanswered" : ""))
        var bad = 0
        if !failures.isEmpty { bad += 1 }
        if tally.missing + tally.duplicated > 0 { bad += 1 }
        if !drained { bad += 1 }
        if healthWorst.failed > 0 { bad += 1 }
        return bad
    }

    /// FHIRcast subscriptions (`/health`) and Cast subscriptions named `prefix…` (the Cast hub's admin snapshot) the
    /// server still holds.
    static func subscriptionsLeft(base: String, prefix: String) async throws -> (fhircast: Int, cast: Int) {
        let health = try await HTTP.request(.GET, "\(base)/health")
        guard let object = try? JSONSerialization.jsonObject(with: Data(health.body.utf8)) as? [String: Any], let fhircast = object["subscriptions"] as? Int
        else { throw BenchError("no subscription count in /health: \(health.body.prefix(200))") }
        let snapshot = try await HTTP.request(.GET, "\(base)/api/hub/admin/snapshot")
        let cast = snapshot.body.components(separatedBy: #""subscriber":"\#(prefix)"#).count - 1
        return (fhircast, cast)
    }
}

/// Asks `/health` every 100 ms until cancelled; the slowest answer, and how many got none within 10 s.
struct HealthProbe: Sendable {
    let base: String

    func run() async -> (slowest: Double, failed: Int) {
        var slowest = 0.0
        var failed = 0
        while !Task.isCancelled {
            let started = ContinuousClock.now
            let answered = (try? await HTTP.request(.GET, "\(base)/health", timeout: .seconds(10)))?.status == 200
            let took = ContinuousClock.now - started
            if answered {
                slowest = max(slowest, Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18)
            } else if !Task.isCancelled {
                failed += 1
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return (slowest, failed)
    }
}
