import Foundation
import NIOCore
import NIOHTTP1

/// `--scenarios stall` (Docs/reliability.md): a Cast subscriber stops reading while events flow at a steady rate. The
/// others' p99 is measured before and during the stall; the stalled one must be dropped (its socket closed by the
/// server), and the server's memory must come back down once it is.
extension Bench {
    func stall(binary: String, rate: Double = 1000, seconds: Double = 10) async throws -> Int {
        // The server's per-socket backlog at its default: the stalled socket is dropped when it fills.
        let target = try await makeTarget(binary: binary, extra: ["--send-buffer", "1024"])
        defer { Task { await target.stop() } }
        let base = target.base
        let topic = uniqueTopic("stall")
        let window = SoakWindow(subscribers: 10)
        let others = try await connectAll(10) { i in
            try await Subscriber.connect(kind: .cast, base: base, topic: topic, events: "patient-open", name: "other-\(i)", maxEvents: 1, ack: false,
                onFrame: { window.record($0, subscriber: i) })
        }
        // Its receive buffer is fixed at 64 KiB: with the kernel's autotuning a loopback socket can buffer tens of MiB
        // (tcp_rmem) before the server notices, which only delays the drop.
        let staller = try await Subscriber.connect(
            kind: .cast, base: base, topic: topic, events: "patient-open", name: "staller", maxEvents: 1, ack: false,
            receiveBuffer: 64 << 10)
        let client = try PublishClient(base: base)
        let rssStart = await target.rss() ?? 0
        var index = 0
        var flowSeconds = 0.0
        func flow(_ seconds: Double) async throws {
            let start = ContinuousClock.now
            defer {
                let took = ContinuousClock.now - start
                flowSeconds += Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
            }
            let count = Int(rate * seconds)
            for k in 0..<count {
                try await Task.sleep(until: start + .seconds(Double(k) / rate), clock: .continuous)
                try await soakPublish(client, topic: topic, index: 2 * (index + k) + 1, padding: 2048)  // odd: Cast publishes
            }
            index += count
        }
        try await flow(seconds / 2)
        try await Task.sleep(for: .milliseconds(500))
        let before = window.takeP99()
        staller.stopReading()
        let stalledAt = ContinuousClock.now
        try await flow(seconds)
        try await Task.sleep(for: .milliseconds(500))
        let during = window.takeP99()
        // A socket that reads nothing never sees its close: the hub is asked whether it still holds the subscription.
        let dropped = try await Self.castSubscriptionGone(named: "staller", base: base, within: .seconds(5))
        let droppedAfter = ContinuousClock.now - stalledAt
        let rssPeak = await target.rss() ?? 0
        try await flow(seconds / 2)
        try await Task.sleep(for: .seconds(1))
        let rssEnd = await target.rss() ?? 0
        let delivered = window.delivered()
        let duplicates = window.duplicates()
        await closeAll(others)
        staller.beginClose()
        client.close()
        await target.stop()
        print("")
        print("Stalled subscriber, \(Int(rate)) events/s (2 KiB each) to 10 Cast subscribers and one that stops reading:")
        print(String(format: "  the others' p99: %.2f ms before the stall, %.2f ms during it (%+.2f ms)", before / 1000, during / 1000, (during - before) / 1000))
        print(String(format: "  the stalled subscriber: %@ (checked %.1f s after it stopped reading)", dropped ? "dropped by the hub" : "STILL SUBSCRIBED",
            Double(droppedAfter.components.seconds) + Double(droppedAfter.components.attoseconds) / 1e18))
        print(String(format: "  server RSS: %.1f MiB at the start, %.1f MiB after the stall, %.1f MiB at the end", Double(rssStart) / 1048576, Double(rssPeak) / 1048576, Double(rssEnd) / 1048576))
        print("  the others got \(delivered.min() ?? 0)..\(delivered.max() ?? 0) of \(index) events; duplicates \(duplicates)")
        print(String(format: "  the rate reached: %.0f events/s", Double(index) / max(flowSeconds, 1e-9)))
        var failures = 0
        if !dropped { failures += 1 }
        if delivered.contains(where: { $0 != index }) || duplicates > 0 { failures += 1 }
        return failures
    }

    /// Whether the Cast hub's admin snapshot no longer lists a subscriber of that name, within `timeout`.
    static func castSubscriptionGone(named name: String, base: String, within timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        repeat {
            let snapshot = try await HTTP.request(.GET, "\(base)/api/hub/admin/snapshot")
            if !snapshot.body.contains(#""subscriber":"\#(name)""#) { return true }
            try await Task.sleep(for: .milliseconds(100))
        } while ContinuousClock.now < deadline
        return false
    }
}
