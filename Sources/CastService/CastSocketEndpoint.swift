import ServiceSupport
import WebSocketTransport
import CastCore
import FHIRcastCore
import Logging
import NIOCore

/// `/bind/{endpoint}`: a Cast subscriber's socket, taking JSON pings and `*-response` frames. Any endpoint may
/// connect, as on the reference hub (cast-protocol.md §1.3). Text frames only: a binary frame ends the connection,
/// as on the reference hub.
package struct CastSocketEndpoint: WebSocketEndpoint {
    package let hub: CastHub
    package let config: CastServiceConfiguration
    package let logger: Logger

    package init(hub: CastHub, config: CastServiceConfiguration, logger: Logger) {
        self.hub = hub
        self.config = config
        self.logger = logger
    }

    package var pathPrefix: String { "/bind/" }

    package func refusal(for id: String) async -> PlainTextError? { nil }

    package func options(for id: String) -> SocketOptions {
        SocketOptions(backlog: config.edge.sendBufferMessages, pingInterval: config.edge.pingInterval, binaryCloses: true)
    }

    package func attach(id endpoint: String, sink: WebSocketSink) async -> SocketConsumer? {
        await hub.bind(endpoint, sink: sink)
        let (hub, logger) = (self.hub, self.logger)
        return { event in
            switch event {
            case .text(let text):
                guard let value = try? JSONBody.decode(text) else {
                    logger.trace("ignoring a Cast frame that is not JSON")
                    return
                }
                switch value["type"]?.stringValue {
                case "ping":
                    _ = sink.send(JSONBody.encode(["type": "pong", "timestamp": .string(CastTime.now())]))
                case "pong":
                    return
                default:
                    await hub.received(value, from: endpoint)
                }
            case .closed:
                await hub.unbind(endpoint, sink: sink)
            }
        }
    }
}
