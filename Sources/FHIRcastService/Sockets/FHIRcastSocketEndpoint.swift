import ServiceSupport
import WebSocketTransport
import FHIRcastCore
import HTTPTypes
import Logging
import NIOCore
import NIOWebSocket

/// `/fhircast/ws/{id}`: the websocket of an STU3 or STU2 subscription (C13–C15). ACKs are taken on the event loop
/// (`AckInbox`); the hub learns how the socket closed (C24, C33).
package struct FHIRcastSocketEndpoint: WebSocketEndpoint {
    package let hub: FHIRcastHub
    package let config: FHIRcastServiceConfiguration
    package let logger: Logger

    package init(hub: FHIRcastHub, config: FHIRcastServiceConfiguration, logger: Logger) {
        self.hub = hub
        self.config = config
        self.logger = logger
    }

    package var pathPrefix: String { "/\(FHIRcastRoutes.webSocketPath)/" }

    package func refusal(for id: String) async -> PlainTextError? {
        // C15: only an endpoint the hub handed out, not yet connected, not expired.
        await hub.acceptsConnection(SubscriptionID(id)) ? nil : PlainTextError(.notFound, "unknown or expired websocket endpoint")
    }

    package func options(for id: String) -> SocketOptions {
        let (acks, id) = (hub.acks, SubscriptionID(id))
        return SocketOptions(
            backlog: config.edge.sendBufferMessages, pingInterval: config.edge.pingInterval, binaryCloses: false,
            fastText: { acks.offer($0, from: id) })
    }

    package func attach(id raw: String, sink: WebSocketSink) async -> SocketConsumer? {
        let id = SubscriptionID(raw)
        do {
            try await hub.attach(id, sink: sink)
        } catch {
            // The endpoint expired or was taken between the upgrade check and now (C15).
            sink.close(.policyViolation, last: JSONBody.encode(HubMessages.invalidEndpoint()))
            return nil
        }
        let (hub, logger) = (self.hub, self.logger)
        return { event in
            switch event {
            case .text(let text):
                // What the event-loop path declined: a frame too large for it, or not an ACK (binary frames are ignored).
                guard let ack = text.withUnsafeReadableBytes(AckFrame.decode) else {
                    logger.trace("ignoring a websocket frame that is not an ACK")
                    return
                }
                await hub.acknowledged(id, ack: ack)
            case .closed(let closeFrame):
                await hub.detach(id, closeFrame: closeFrame)
            }
        }
    }
}
