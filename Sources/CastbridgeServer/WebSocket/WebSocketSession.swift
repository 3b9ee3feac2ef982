import FHIRcastCore
import Foundation
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket

/// One subscriber's websocket, as one task: its reader. Frames go out from the hub through the socket's event loop
/// (`WebSocketSink`), ACKs are taken on that loop (`AckInbox`); the reader sees the rest, and ends when the socket
/// does. The hub then learns how the socket closed.
struct WebSocketSession: Sendable {
    let hub: FHIRcastHub
    let id: SubscriptionID
    let channel: any Channel
    let config: ServerConfiguration
    let logger: Logger

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        let (acks, id) = (hub.acks, self.id)
        guard
            let (direct, closeCodes) = await DirectPath.install(
                on: channel, limit: config.sendBufferMessages, onText: { acks.offer($0, from: id) })
        else { return }
        let closer = SocketCloser(outbound: outbound, channel: channel)
        let sink = WebSocketSink(direct: direct, closer: closer, channel: channel)
        do {
            try await hub.attach(id, sink: sink)
        } catch {
            // The endpoint expired or was taken between the upgrade check and now (C15).
            try? await outbound.write(.text(String(buffer: JSONBody.encode(HubMessages.invalidEndpoint()))))
            try? await outbound.close(.policyViolation, reason: "invalid endpoint")
            return
        }
        await read(inbound)
        await closer.settle()
        await hub.detach(id, closeFrame: closeCodes.closeFrame)
    }

    private func read(_ inbound: WebSocketInboundStream) async {
        do {
            for try await message in inbound.messages(maxSize: config.maxBodyBytes) {
                guard case .text(var text) = message else { continue }  // binary frames are ignored
                guard let ack = text.withUTF8({ AckFrame.decode(UnsafeRawBufferPointer($0)) }) else {
                    logger.trace("ignoring a websocket frame that is not an ACK")
                    continue
                }
                await hub.acknowledged(id, ack: ack)
            }
        } catch {
            logger.debug("websocket read ended", metadata: ["error": "\(error)"])
        }
    }
}
