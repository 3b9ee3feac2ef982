import Foundation
import Synchronization

/// Latency samples in microseconds, and their summary.
struct Samples {
    private(set) var values: [Double] = []

    mutating func add(_ microseconds: Double) { values.append(microseconds) }
    mutating func add(contentsOf other: [Double]) { values += other }

    func percentile(_ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count - 1)).rounded())
        return sorted[Swift.min(Swift.max(rank, 0), sorted.count - 1)]
    }

    var max: Double { values.max() ?? .nan }

    /// `p50 0.21 ms · p95 … · p99 … · max …`
    var summary: String {
        func ms(_ us: Double) -> String { String(format: "%.3f", us / 1000) }
        return "p50 \(ms(percentile(50))) ms · p95 \(ms(percentile(95))) ms · p99 \(ms(percentile(99))) ms · max \(ms(max)) ms"
    }
}

/// Microseconds since the benchmark started, on one monotonic clock shared by publishers and receivers.
enum Clock {
    static let start = ContinuousClock.now

    static func now() -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
    }
}

/// What one receiving client saw: per event index, how many copies and when the first arrived.
final class Receipts: Sendable {
    private struct State {
        var counts: [UInt16]
        var times: [Double]
    }
    private let state: Mutex<State>

    init(events: Int) {
        state = Mutex(State(counts: Array(repeating: 0, count: events), times: Array(repeating: 0, count: events)))
    }

    func record(_ index: Int, at time: Double) {
        state.withLock { s in
            guard index >= 0, index < s.counts.count else { return }
            if s.counts[index] == 0 { s.times[index] = time }
            s.counts[index] &+= 1
        }
    }

    func snapshot() -> (counts: [UInt16], times: [Double]) { state.withLock { ($0.counts, $0.times) } }
}

/// Every delivery counted once: how many arrived, how many are missing, how many came twice or more.
struct Tally: CustomStringConvertible {
    var delivered = 0
    var missing = 0
    var duplicated = 0

    init(_ receipts: [Receipts], events: Range<Int>) {
        for r in receipts {
            let counts = r.snapshot().counts
            for i in events {
                switch counts[i] {
                case 0: missing += 1
                case 1: delivered += 1
                default:
                    delivered += 1
                    duplicated += Int(counts[i]) - 1
                }
            }
        }
    }

    var description: String { "\(delivered) delivered, \(missing) missing, \(duplicated) duplicated" }
}

/// The index in `…"id":"bench-<index>"…`, without decoding the JSON.
/// The `<n>` of an event id `bench-<n>` or `bench-<n>-<topic>`.
func benchIndex(in text: Substring) -> Int? {
    guard let r = text.range(of: #""id":"bench-"#) else { return nil }
    var value = 0
    var any = false
    for c in text[r.upperBound...].utf8 {
        guard c >= 48, c <= 57 else { break }
        value = value * 10 + Int(c - 48)
        any = true
    }
    return any ? value : nil
}
