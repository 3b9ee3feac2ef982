import Foundation

/// An http(s) URL the hub will call: a webhook or WebSub callback, an upstream Cast hub, a token endpoint.
///
/// Checked where it comes in, before any connection: the HTTP stack underneath (AsyncHTTPClient on SwiftNIO) converts
/// the port with `in_port_t(port)`, which traps above 65535, so `hub.callback=http://host:99999/` once stopped the
/// whole process (issue #18, Docs/reliability.md). Parsed the way AsyncHTTPClient parses it, with Foundation's `URL`.
public enum OutboundURL {
    /// Why `text` cannot be called, or nil when it can.
    public static func problem(_ text: String) -> String? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            return "must be an absolute http or https URL"
        }
        guard let host = url.host, !host.isEmpty else { return "has no host" }
        // The port as written, not `url.port`: Foundation reads one too long for an Int as no port at all, which would
        // mean port 80 or 443.
        if let written = writtenPort(text), Int(written).map({ (1...65535).contains($0) }) != true {
            return "has port \(written.prefix(30)), outside 1–65535"
        }
        return nil
    }

    /// The port text of the authority (`user@host:port`, `[v6]:port`), or nil when none is written.
    private static func writtenPort(_ text: String) -> Substring? {
        guard let scheme = text.range(of: "://") else { return nil }
        var authority = text[scheme.upperBound...]
        if let end = authority.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { authority = authority[..<end] }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        if let bracket = authority.lastIndex(of: "]") { authority = authority[authority.index(after: bracket)...] }
        guard let colon = authority.lastIndex(of: ":") else { return nil }
        let port = authority[authority.index(after: colon)...]
        return port.isEmpty ? nil : port
    }
}
