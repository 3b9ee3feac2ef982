import CastCore
import FHIRcastCore
import Foundation
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket

/// One `/bind/{endpoint}` socket, as one task: its reader, taking JSON pings and `*-response` frames (frames go out
/// through the socket's event loop, `WebSocketSink`). Text frames only: a binary frame ends the connection, as on the
/// reference hub.
struct CastSession: Sendable {
    let hub: CastHub
    let endpoint: String
    let channel: any Channel
    let config: ServerConfiguration
    let logger: Logger

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        guard let (direct, _) = await DirectPath.install(on: channel, limit: config.sendBufferMessages) else { return }
        let closer = SocketCloser(outbound: outbound, channel: channel)
        let sink = WebSocketSink(direct: direct, closer: closer, channel: channel)
        await hub.bind(endpoint, sink: sink)
        await read(inbound, sink: sink)
        await closer.settle()
        await hub.unbind(endpoint, sink: sink)
    }

    private func read(_ inbound: WebSocketInboundStream, sink: WebSocketSink) async {
        do {
            for try await message in inbound.messages(maxSize: config.maxBodyBytes) {
                guard case .text(let text) = message else {
                    logger.debug("binary frame on a Cast socket: closing it, as the reference hub does")
                    sink.deny(frame: ByteBuffer())
                    return
                }
                guard let value = try? JSONValue.parse(Data(text.utf8)) else { continue }
                switch value["type"]?.stringValue {
                case "ping":
                    _ = sink.send(JSONBody.encode(["type": "pong", "timestamp": .string(CastTime.now())]))
                case "pong":
                    continue
                default:
                    await hub.received(value, from: endpoint)
                }
            }
        } catch {
            logger.debug("cast socket read ended", metadata: ["error": "\(error)"])
        }
    }
}
