/// How long a node of a cluster must have been silent to be taken for gone, as the heartbeat's queries use it: the
/// setting, or, while this node is not yet in a position to judge (it has not itself been heard for that long, as after
/// the database was out of reach), a silence no node reaches, so that only nodes that said they stopped (their
/// `seen_at` is `-infinity`) count as gone.
struct PresumedGone: Sendable, Equatable {
    /// Seconds of silence, for `make_interval(secs => …)`.
    let seconds: Double

    /// A century: longer than any node stays silent before the pruning forgets it (a day).
    static let never: Double = 100 * 365 * 86_400

    init(silentFor seconds: Double, judging: Bool) {
        self.seconds = judging ? seconds : Self.never
    }
}
