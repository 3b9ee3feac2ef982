import NIOCore
import NIOPosix

/// Ports on 127.0.0.1.
public enum LoopbackPort {
    /// A port nothing listens on right now. Another process may still take it before the caller binds it: a child
    /// server started on it says so (`ChildServer.PortTaken`).
    public static func free() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }
}
