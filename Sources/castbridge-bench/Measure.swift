import Foundation
import NIOCore
import NIOPosix
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

/// The `"id":"bench-<n>…"` of a frame, without decoding the JSON: the whole id (the ACK repeats it) and its `<n>`.
/// Event ids are `bench-<n>` or `bench-<n>-<topic>`.
func benchID(in buffer: ByteBuffer) -> (index: Int, id: ByteBuffer)? {
    // `"id"`, then JSON's optional blanks around the colon (Python's json.dumps writes `"id": "…"`), then `"bench-<n>`.
    let found: (start: Int, end: Int, index: Int)? = buffer.withUnsafeReadableBytes { raw in
        let key: StaticString = #""id""#
        let prefix: StaticString = #""bench-"#
        let keyPattern = UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
        let prefixPattern = UnsafeRawBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
        func matches(_ pattern: UnsafeRawBufferPointer, at i: Int) -> Bool {
            i + pattern.count <= raw.count && memcmp(raw.baseAddress! + i, pattern.baseAddress!, pattern.count) == 0
        }
        func skipBlanks(_ j: inout Int) { while j < raw.count, raw[j] == 0x20 || raw[j] == 0x09 { j += 1 } }
        guard raw.count > keyPattern.count + prefixPattern.count else { return nil }
        for i in 0..<raw.count where raw[i] == 0x22 && matches(keyPattern, at: i) {
            var j = i + keyPattern.count
            skipBlanks(&j)
            guard j < raw.count, raw[j] == 0x3A else { continue }
            j += 1
            skipBlanks(&j)
            guard matches(prefixPattern, at: j) else { continue }
            let start = j + 1
            j += prefixPattern.count
            var index = 0
            let digits = j
            while j < raw.count, raw[j] >= 48, raw[j] <= 57 {
                index = index * 10 + Int(raw[j] - 48)
                j += 1
            }
            guard j > digits else { return nil }
            while j < raw.count, raw[j] != 0x22 { j += 1 }
            guard j < raw.count else { return nil }
            return (start, j, index)
        }
        return nil
    }
    guard let found, let id = buffer.getSlice(at: buffer.readerIndex + found.start, length: found.end - found.start) else { return nil }
    return (found.index, id)
}

/// Deliveries seen by all clients together. The one-at-a-time publisher waits on it without polling (a polling
/// publisher takes CPU from the server it measures), and a socket the server closed ends the run at once instead of
/// leaving it waiting for events that cannot come.
let arrivals = Arrivals()

final class Arrivals: Sendable {
    private struct State {
        var count = 0
        var waiter: (target: Int, continuation: CheckedContinuation<Void, Never>)?
        var broken: String?
    }
    private let state = Mutex(State())

    var count: Int { state.withLock { $0.count } }
    /// Why a socket ended that this side did not close, if one did.
    var brokenSocket: String? { state.withLock { $0.broken } }

    func add() {
        let due = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.count += 1
            guard let w = s.waiter, s.count >= w.target else { return nil }
            s.waiter = nil
            return w.continuation
        }
        due?.resume()
    }

    func broken(_ reason: String) {
        let waiting = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.broken == nil { s.broken = reason }
            defer { s.waiter = nil }
            return s.waiter?.continuation
        }
        waiting?.resume()
    }

    /// Returns once `target` deliveries arrived in all, a socket broke, or `timeout` passed.
    func wait(for target: Int, timeout: TimeAmount) async {
        var timer: Scheduled<Void>?
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s in
                if s.count >= target || s.broken != nil { return true }
                s.waiter = (target, c)
                return false
            }
            if now {
                c.resume()
            } else {
                timer = MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: timeout) { self.timedOut(target) }
            }
        }
        timer?.cancel()
    }

    private func timedOut(_ target: Int) {
        let waiting = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let w = s.waiter, w.target == target else { return nil }
            s.waiter = nil
            return w.continuation
        }
        waiting?.resume()
    }
}
