import FHIRcastCore

/// Where the hub hands the events FHIRcast apps publish besides its own subscribers: the bridge to Cast. The hub
/// calls it inside its publish, so the order is the order of acceptance and a full outlet is known at once.
package protocol EventOutlet: Sendable {
    /// Checks an app's event, then runs `accept` (the hub's publish, which returns the accepted event, or nil when
    /// nothing was delivered) and takes what it accepted. A throw before `accept` refuses the event, so nothing is
    /// published (a file the Cast side cannot take, a queue without room for its bytes).
    func pass(
        _ notification: EventNotification, publisher: String?, accept: () throws(HubError) -> EventNotification?
    ) throws(HubError) -> OutletOutcome

    /// Whether the outlet needs the topics that exist for FHIRcast apps (a Cast hub that subscribes per topic).
    var followsTopics: Bool { get }
    func setTopics(_ topics: Set<String>)
}

package enum OutletOutcome: Sendable, Equatable {
    /// Taken (or nothing to take: the event goes nowhere on the other side).
    case passed
    /// Accepted by the hub but not taken: its publisher gets a SyncError with this reason.
    case refused(accepted: EventNotification, reason: String)
}
