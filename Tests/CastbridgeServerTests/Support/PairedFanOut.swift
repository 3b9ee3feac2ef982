import FHIRcastCore
import FHIRcastService

/// Two nodes in one process, for the fan-out seam's tests: what one node shares, the other receives (issue #19
/// puts PostgreSQL between real nodes).
struct PairedFanOut: Sendable {
    struct Node: TopicFanOut {
        let outgoing: AsyncStream<SharedEvent>.Continuation
        let incoming: AsyncStream<SharedEvent>

        var spansNodes: Bool { true }
        func share(_ event: SharedEvent) { outgoing.yield(event) }
        func received() -> AsyncStream<SharedEvent> { incoming }
    }

    let a: Node
    let b: Node

    init() {
        let (toB, toBSink) = AsyncStream<SharedEvent>.makeStream()
        let (toA, toASink) = AsyncStream<SharedEvent>.makeStream()
        a = Node(outgoing: toBSink, incoming: toA)
        b = Node(outgoing: toASink, incoming: toB)
    }
}
