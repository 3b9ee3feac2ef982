/// What became of one publish.
public enum PublishOutcome: Sendable, Equatable {
    case sent
    /// The hub certainly did not take it (it could not be reached, or said it was unavailable): send it again
    /// once reconnected.
    case notSent(String)
    /// The hub is connected but cannot take it yet (its payload store is full): send it again in a moment,
    /// without reconnecting.
    case busy(String)
    /// The hub refused it, or it is unknown whether the hub took it: sending it again could duplicate it, so its
    /// publisher is told instead.
    case failed(String)
}
