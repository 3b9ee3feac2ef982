import FHIRcastCore

/// Carries the events this node's hub accepts to the hubs of the other nodes of a cluster, and theirs to it: each
/// node delivers an event to its own subscribers (`HubState.replicate`). Issue #19 fills it with PostgreSQL; a
/// single node has no one to tell.
package protocol TopicFanOut: Sendable {
    /// Whether there are other nodes. False: the hub never calls `share`, and publishing costs nothing more.
    var spansNodes: Bool { get }
    /// An event this node accepted, handed on in the order of acceptance (with the versions this node gave it).
    func share(_ event: EventNotification)
    /// The events other nodes accepted, in their order, until the fan-out ends.
    func received() -> AsyncStream<EventNotification>
}

/// One node: nothing to share, nothing to receive.
package struct SingleNode: TopicFanOut {
    package init() {}
    package var spansNodes: Bool { false }
    package func share(_ event: EventNotification) {}
    package func received() -> AsyncStream<EventNotification> { AsyncStream { $0.finish() } }
}
