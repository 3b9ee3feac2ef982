import FHIRcastCore

/// One state change waiting for the store: what the store must write, and the effects carried out once it is written
/// (a publish's delivery is sent only once its context is kept).
struct StoreBatch: Sendable {
    let id: Int
    let changes: HubChanges
    let effects: [HubEffect]
    /// The first effect is a publish's delivery, which the other nodes of a cluster get too.
    let share: Bool
}

extension HubEffect {
    /// Carried out even when the store refused the change that made it: a denial reports an ending that stands in
    /// memory. Deliveries and verifications belong to a change that is undone.
    var survivesUndo: Bool {
        if case .deny = self { return true }
        return false
    }
}
