import Hummingbird

/// Where a service is reached: what its advertised URLs are built from.
package protocol AdvertisedAddress: Sendable {
    /// `--public-url`: the base URL clients use (behind a proxy), or nil.
    var publicURL: String? { get }
    /// The bound host and port, when there is no public URL and a request has no Host.
    var host: String { get }
    var port: Int { get }
    /// Whether the server itself speaks TLS (`https`, `wss`).
    var secure: Bool { get }
}

/// The URLs the hubs hand out: WebSocket endpoints (FHIRcast `hub.channel.endpoint`, Cast `/bind/…`) and the
/// FHIRcast `hub.url` a token response names.
package enum AdvertisedURL {
    /// The public URL when configured (http→ws, https→wss), else the request's Host; never derived from a topic (C8).
    package static func webSocket(path: String, request: Request, config: some AdvertisedAddress) -> String {
        url(path, request: request, config: config, plain: "ws", secure: "wss")
    }

    /// The public URL when configured (ws→http, wss→https), else the request's Host.
    package static func http(path: String, request: Request, config: some AdvertisedAddress) -> String {
        url(path, request: request, config: config, plain: "http", secure: "https")
    }

    private static func url(_ path: String, request: Request, config: some AdvertisedAddress, plain: String, secure: String) -> String {
        var base: String
        if let publicURL = config.publicURL {
            base = publicURL
            for (from, to) in [("https://", secure), ("wss://", secure), ("http://", plain), ("ws://", plain)] where base.hasPrefix(from) {
                base = to + "://" + base.dropFirst(from.count)
                break
            }
        } else if let host = request.head.authority {
            base = "\(config.secure ? secure : plain)://\(host)"
        } else {
            base = "\(config.secure ? secure : plain)://\(config.host):\(config.port)"
        }
        while base.hasSuffix("/") { base.removeLast() }
        return base + path
    }
}
