import NIOCore
import NIOWebSocket
import Synchronization

/// Where a sink writes a socket's frames directly: its session, on its event loop, bounded by its backlog.
package struct DirectPath: Sendable {
    package let session: NIOLoopBound<SocketSession>
    package let backlog: Backlog
    package let channel: any Channel
    package var eventLoop: any EventLoop { session.eventLoop }

    /// Adds a session to a channel just upgraded by NIO's WebSocket upgrader (its frame encoder and decoder in
    /// place): the fragment aggregator, the session after it, and the session's bypass before the frame encoder.
    package static func install(on channel: any Channel, options: SocketOptions, maxMessageBytes: Int) throws -> DirectPath {
        let ops = channel.pipeline.syncOperations
        let encoder = try ops.handler(type: WebSocketFrameEncoder.self)
        let bypass = FrameBypass()
        try ops.addHandler(bypass, position: .before(encoder))
        try ops.addHandler(
            NIOWebSocketFrameAggregator(
                minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 65_536, maxAccumulatedFrameSize: maxMessageBytes))
        let backlog = Backlog(limit: options.backlog)
        let session = SocketSession(options: options, backlog: backlog, bypass: bypass, eventLoop: channel.eventLoop)
        try ops.addHandler(session)
        return DirectPath(session: NIOLoopBound(session, eventLoop: channel.eventLoop), backlog: backlog, channel: channel)
    }

    /// Starts handing the socket's events to its hub (from any thread).
    package func start(_ consumer: @escaping SocketConsumer) {
        let session = self.session
        eventLoop.execute { session.value.start(consumer) }
    }
}
