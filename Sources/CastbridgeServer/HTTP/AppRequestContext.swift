import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// The request context of castbridge's router: Hummingbird's core context, the WebSocket upgrade slot, and
/// the connection's channel (the websocket session needs it to observe close codes and to drop slow peers).
public struct AppRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.channel = source.channel
    }
}
