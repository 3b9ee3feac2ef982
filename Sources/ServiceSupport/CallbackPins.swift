import AccessCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix

/// Where webhook callbacks may be sent (`CallbackAddressPolicy`), enforced on the address actually connected to: a
/// callback's host is resolved once, the address checked, and every later request for that callback goes to that
/// address only (AsyncHTTPClient's `dnsOverride`; TLS still checks the host name). A name that later resolves
/// elsewhere (DNS rebinding) changes nothing.
package actor CallbackPins {
    package let policy: CallbackAddressPolicy
    private let shared: HTTPClient
    /// Clients pinned to one address, by host.
    private var pinned: [String: (address: String, client: HTTPClient)] = [:]
    private let capacity = 1024

    package init(policy: CallbackAddressPolicy, shared: HTTPClient = .shared) {
        self.policy = policy
        self.shared = shared
    }

    /// The client to reach `callback` with, or why it may not be reached.
    package func client(for callback: String) async -> Result<HTTPClient, CallbackRefusal> {
        guard let parts = URLComponents(string: callback), let host = parts.host, !host.isEmpty else {
            return .failure(CallbackRefusal("hub.callback has no host"))
        }
        if let literal = IPAddress(host) {
            if let why = policy.refusal(for: literal) { return .failure(CallbackRefusal("hub.callback: \(why)")) }
            return .success(shared)
        }
        if let known = pinned[host.lowercased()] { return .success(known.client) }
        let port = parts.port ?? (parts.scheme?.lowercased() == "https" ? 443 : 80)
        let resolved: String
        do {
            resolved = try await NIOThreadPool.singleton.runIfActive {
                try SocketAddress.makeAddressResolvingHost(host, port: port).ipAddress ?? ""
            }
        } catch {
            return .failure(CallbackRefusal("hub.callback: '\(host)' does not resolve (\(error))"))
        }
        guard let address = IPAddress(resolved) else { return .failure(CallbackRefusal("hub.callback: '\(host)' does not resolve")) }
        if let why = policy.refusal(for: address) { return .failure(CallbackRefusal("hub.callback: \(host) resolves to \(why)")) }
        guard pinned.count < capacity else { return .failure(CallbackRefusal("too many distinct callback hosts; try again later")) }
        var configuration = HTTPClient.Configuration()
        configuration.dnsOverride = [host: resolved]
        configuration.redirectConfiguration = .disallow
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        pinned[host.lowercased()] = (resolved, client)
        return .success(client)
    }

    /// Shuts the pinned clients down (the hub's shutdown).
    package func shutdown() async {
        let clients = pinned.values.map(\.client)
        pinned = [:]
        for client in clients { try? await client.shutdown() }
    }
}

package struct CallbackRefusal: Error, Sendable, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}
