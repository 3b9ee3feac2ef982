/// Why the hub made a SyncError (C33–C35), as `castbridge_sync_errors_total` labels it.
public enum SyncErrorCause: String, Sendable, CaseIterable {
    /// A WebSocket subscriber did not acknowledge an event in time (C33).
    case ackTimeout = "ack_timeout"
    /// A subscriber answered an event with a status that is not 2xx: an ACK, or a webhook's response (C31).
    case refused
    /// A WebSocket subscriber's socket closed abnormally (C24).
    case disconnected
    /// A subscriber stopped taking events: webhook retries exhausted, or a send buffer that overflowed.
    case unresponsive
    /// An event the hub accepted could not be passed on (the Cast bridge): its publisher is told (C35).
    case notPassedOn = "not_passed_on"
}
