import NIOCore
import NIOPosix
import Synchronization

/// A loopback TCP relay a test can open and shut: while shut, new connections are closed at once (and open ones
/// are cut); while open, each connection is relayed to the current backend port. It lets a test decide when a
/// client can reach a restarted server.
final class TCPGate: Sendable {
    private let box: StateBox
    private let listener: any Channel
    let port: Int

    private init(port: Int, listener: any Channel, box: StateBox) {
        self.port = port
        self.listener = listener
        self.box = box
    }

    static func start(backend: Int?) async throws -> TCPGate {
        let box = StateBox(backend: backend)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { inbound in
                guard let backend = box.backend() else { return inbound.close() }
                return ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: "127.0.0.1", port: backend)
                    .flatMap { outbound in
                        box.track(inbound, outbound)
                        // The child channel registers (and starts reading) only once this future completes.
                        return inbound.pipeline.addHandler(Relay(peer: outbound)).flatMap {
                            outbound.pipeline.addHandler(Relay(peer: inbound))
                        }
                    }
                    .flatMapErrorThrowing { _ in inbound.close(promise: nil) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TCPGate(port: listener.localAddress?.port ?? 0, listener: listener, box: box)
    }

    /// Relays new connections to this port from now on.
    func open(to backend: Int) { box.state.withLock { $0.backend = backend } }

    /// Refuses new connections and cuts the relayed ones.
    func shut() {
        let cut = box.state.withLock { s -> [any Channel] in
            s.backend = nil
            defer { s.channels.removeAll() }
            return s.channels
        }
        for c in cut { c.close(promise: nil) }
    }

    func stop() async {
        shut()
        try? await listener.close()
    }

    /// The part of the state the channel initializer needs.
    private final class StateBox: Sendable {
        let state: Mutex<(backend: Int?, channels: [any Channel])>
        init(backend: Int?) { state = Mutex((backend, [])) }
        func backend() -> Int? { state.withLock { $0.backend } }
        func track(_ a: any Channel, _ b: any Channel) { state.withLock { $0.channels += [a, b] } }
    }
}

/// Copies bytes to the peer channel; closing either side closes the other.
private final class Relay: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let peer: any Channel

    init(peer: any Channel) { self.peer = peer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let channel = context.channel
        peer.writeAndFlush(unwrapInboundIn(data)).whenFailure { _ in channel.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        peer.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
