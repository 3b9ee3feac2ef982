import Hummingbird

/// The websocket URLs the hubs hand out (FHIRcast `hub.channel.endpoint`, Cast `/bind/…`).
enum AdvertisedURL {
    /// The public URL when configured (http→ws, https→wss), else the request's Host; never derived from a topic (C8).
    static func webSocket(path: String, request: Request, config: ServerConfiguration) -> String {
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
