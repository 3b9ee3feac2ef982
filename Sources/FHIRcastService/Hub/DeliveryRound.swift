import WebSocketTransport

/// The writes of one fan-out, carried out together once every subscriber's sink has had its event: the sockets'
/// frames with one task per event loop rather than one per socket. Sinks that queue elsewhere (webhooks) leave it be.
package struct DeliveryRound: ~Copyable {
    package var socketWrites = WriteBatch()

    package init() {}

    package consuming func submit() {
        socketWrites.submit()
    }
}
