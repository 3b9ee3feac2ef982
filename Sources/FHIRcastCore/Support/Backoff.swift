import Foundation

/// Reconnect delays: exponential from `base`, capped at `max`, with jitter in [½, 1] of the step so that
/// many bridges restarted together do not reconnect in lockstep.
public struct Backoff: Sendable {
    public var base: Double
    public var max: Double
    public private(set) var attempt = 0

    public init(base: Double, max: Double) {
        self.base = Swift.max(0.001, base)
        self.max = Swift.max(self.base, max)
    }

    /// The next delay in seconds; `unit` is a random number in [0, 1).
    public mutating func next(unit: Double) -> Double {
        let step = Swift.min(max, base * pow(2, Double(Swift.min(attempt, 30))))
        attempt += 1
        return step * (0.5 + 0.5 * unit)
    }

    public mutating func reset() { attempt = 0 }
}
