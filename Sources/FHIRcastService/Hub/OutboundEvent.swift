import NIOCore
import WebSocketTransport

/// One encoded event on its way to one subscriber: encoded once for every subscriber of its flavor.
package struct OutboundEvent: Sendable {
    package var message: TextMessage
    package var body: ByteBuffer { message.payload }
    package var eventID: String
    package var eventName: String
}
