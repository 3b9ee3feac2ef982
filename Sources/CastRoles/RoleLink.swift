import CastClient
import FHIRcastCore
import Foundation
import Logging
import NIOCore

/// What both roles do with their session: keep its current socket (for answers), say when the hub is lost and found,
/// and pass on each frame that is a Cast message, in order.
enum RoleLink {
    static func run(
        _ session: CastHubSession, name: String, logger: Logger, bound: @escaping @Sendable (CastHubSocket?) async -> Void,
        take: @escaping @Sendable (CastMessage) async -> Void
    ) async {
        await session.run { event in
            switch event {
            case .connected(let endpoint, let socket):
                logger.info("\(name) connected: \(endpoint)")
                await bound(socket)
            case .disconnected(let reason, let retryIn):
                logger.warning("\(name) lost the hub (\(reason)); subscribing again in \(String(format: "%.1f", retryIn)) s")
                await bound(nil)
            case .frame(let text):
                guard let message = CastMessage(frame: String(buffer: text)) else { return }
                await take(message)
            }
        }
    }
}
