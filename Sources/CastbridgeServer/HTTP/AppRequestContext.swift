import Hummingbird
import NIOCore

/// The request context of castbridge's router: Hummingbird's core context and the connection's channel.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}
