import NIOCore
import NIOPosix
import Synchronization

/// Ports on 127.0.0.1.
public enum LoopbackPort {
    /// Below Linux's ephemeral range (32768–60999), which `bind(port: 0)` and outgoing connections draw from: the
    /// in-process test servers, which bind port 0, never land on a port handed out here.
    static let range = 20_000..<32_768

    /// Ports handed out by this process, never handed out twice: two children never race for one port.
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port nothing listens on right now, chosen where no in-process `bind(port: 0)` can take it before the caller
    /// binds it (a child whose health check then reached someone else's server would be talking to a stranger).
    /// Another process may still take it: a child server started on it says so (`ChildServer.PortTaken`).
    public static func free() async throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: range)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            do {
                let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                    .bind(host: "127.0.0.1", port: port).get()
                try await channel.close()
                return port
            } catch {
                continue  // taken by another process: try another
            }
        }
        throw LoopbackPortExhausted()
    }

    struct LoopbackPortExhausted: Error, CustomStringConvertible {
        var description: String { "no bindable loopback port in \(LoopbackPort.range) after 200 tries" }
    }
}
