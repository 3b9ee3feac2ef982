import CastCore
import FHIRcastCore
import Foundation
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket

/// One `/bind/{endpoint}` socket: a writer draining its bounded queue, a reader taking JSON pings and
/// `*-response` frames. Text frames only: a binary frame ends the connection, as on the reference hub.
struct CastSession: Sendable {
    let hub: CastHub
    let endpoint: String
    let channel: any Channel
    let config: ServerConfiguration
    let logger: Logger

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        let (commands, continuation) = AsyncStream<SessionCommand>.makeStream(
            bufferingPolicy: .bufferingOldest(max(config.sendBufferMessages, 2)))
        let sink = WebSocketSink(continuation: continuation, channel: channel)
        await hub.bind(endpoint, sink: sink)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await WebSocketSink.drain(commands, to: outbound, logger: self.logger) }
            group.addTask { await self.read(inbound, sink: sink) }
            await group.next()
            group.cancelAll()
        }
        continuation.finish()
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
                guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else { continue }
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
