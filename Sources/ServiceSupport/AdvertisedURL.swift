import Hummingbird

/// Where a service is reached: what its advertised URLs are built from.
package protocol AdvertisedAddress: Sendable {
    /// `--public-url`: the base URL clients use (behind a proxy), or nil.
    var publicURL: String? { get }
    /// The bound host and port, when there is no public URL and a request has no Host.
    var host: String { get }
    var port: Int { get }
}

/// The websocket URLs the hubs hand out (FHIRcast `hub.channel.endpoint`, Cast `/bind/…`).
package enum AdvertisedURL {
    /// The public URL when configured (http→ws, https→wss), else the request's Host; never derived from a topic (C8).
    package static func webSocket(path: String, request: Request, config: some AdvertisedAddress) -> String {
        var base: String
        if let publicURL = config.publicURL {
            base = publicURL
            if base.hasPrefix("https://") {
                base = "wss://" + base.dropFirst("https://".count)
            } else if base.hasPrefix("http://") {
                base = "ws://" + base.dropFirst("http://".count)
            }
        } else if let host = request.head.authority {
            base = "ws://\(host)"
        } else {
            base = "ws://\(config.host):\(config.port)"
        }
        while base.hasSuffix("/") { base.removeLast() }
        return base + path
    }
}
