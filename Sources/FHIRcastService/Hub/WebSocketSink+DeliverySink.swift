import WebSocketTransport

/// A FHIRcast websocket subscriber: its frames join the round's socket writes.
extension WebSocketSink: DeliverySink {
    package func enqueue(_ event: OutboundEvent, into round: inout DeliveryRound) -> Bool {
        enqueue(event.message, into: &round.socketWrites)
    }
}
