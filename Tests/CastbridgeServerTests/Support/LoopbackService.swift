import Logging
import NIOCore
import ServiceLifecycle

/// A test peer's service on loopback (a generation B hub, an OpenID Connect issuer): run in a service group with no
/// signal handlers, its bound port known once it listens, stopped gracefully within a bound.
struct LoopbackService: Sendable {
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// Starts the service `make` builds; it must call the closure it is given with its channel once it listens.
    static func start(logger: Logger, _ make: (@escaping @Sendable (any Channel) async -> Void) -> some Service) async throws -> LoopbackService {
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let service = make { portSink.yield($0.localAddress?.port ?? 0) }
        let group = ServiceGroup(configuration: .init(services: [service], gracefulShutdownSignals: [], logger: logger))
        let task = Task {
            // A port that cannot be bound ends the service at once: the wait below then ends too.
            defer { portSink.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestFailure("the test peer did not start") }
        return LoopbackService(port: port, group: group, task: task)
    }

    /// Graceful shutdown, bounded. About one run in ten, Hummingbird's stock HTTP/1 + WebSocket server kept its
    /// service group running after graceful shutdown, and after cancellation too, with no handler left: awaiting
    /// `task.value` (which no cancellation ends) then held the test, and `swift test`, forever. Past the bound the
    /// group is cancelled and the test goes on; the listening socket is closed by then, so the port can be reused.
    func stop() async {
        await group.triggerGracefulShutdown()
        let task = self.task
        let (stopped, stoppedSink) = AsyncStream<Void>.makeStream()
        let waiter = Task {
            _ = try? await task.value
            stoppedSink.yield()
        }
        let bound = Task {
            try await Task.sleep(for: .seconds(3))
            task.cancel()
            try await Task.sleep(for: .seconds(1))
            stoppedSink.yield()
        }
        for await _ in stopped { break }
        bound.cancel()
        waiter.cancel()
    }
}
