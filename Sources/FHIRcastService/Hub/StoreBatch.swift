import Synchronization
import FHIRcastCore

/// One state change waiting for the store: what the store must write, and the effects carried out once it is written
/// (a publish's delivery is sent only once its context is kept).
struct StoreBatch: Sendable {
    let id: Int
    let changes: HubChanges
    let effects: [HubEffect]
    /// The accepted event handed to the other nodes once written (a fan-out that does not go through the store).
    let shared: SharedEvent?
    /// The event whose publish this is: made again over the store's context when another node wrote the topic first.
    let redo: EventNotification?
    /// When the publish whose delivery this batch holds reached the hub (`castbridge_delivery_latency_seconds`).
    var started: ContinuousClock.Instant? = nil
}

extension HubEffect {
    /// Carried out even when the store refused the change that made it: a denial reports an ending that stands in
    /// memory. Deliveries and verifications belong to a change that is undone.
    var survivesUndo: Bool {
        if case .deny = self { return true }
        return false
    }
}

/// What a publish made again inside the store's lock produced (`FHIRcastHub.redo`): set on the hub, read on the hub.
final class Remade: Sendable {
    private let state = Mutex<(changes: HubChanges?, effects: [HubEffect])>((nil, []))
    var changes: HubChanges? { state.withLock { $0.changes } }
    var effects: [HubEffect] { state.withLock { $0.effects } }
    func set(_ changes: HubChanges, _ effects: [HubEffect]) { state.withLock { $0 = (changes, effects) } }
}
