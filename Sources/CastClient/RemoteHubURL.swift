import Foundation

/// The URLs of an external Cast hub.
public enum RemoteHubURL {
    /// `http://h:2018/api/hub/` → `http://h:2018`.
    public static func root(of url: String) -> String {
        var s = url.trimmingCharacters(in: .whitespaces)
        while s.hasSuffix("/") { s.removeLast() }
        if s.hasSuffix("/api/hub") { s.removeLast("/api/hub".count) }
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }

    /// Text as one path segment: everything but letters, digits, `-`, `_` and `~` percent-encoded, dots included, so
    /// that a topic or payload id from an app can neither add segments (`a/b`) nor climb out of its route (`..`).
    public static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: segmentAllowed) ?? ""
    }

    private static let segmentAllowed: CharacterSet = {
        var set = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        set.insert(charactersIn: "-_~")
        return set
    }()

    /// The hub's socket URL on the configured scheme and host: the reference hub builds it from the Host header
    /// and says `wss` for anything that is not "localhost", even when it serves plain ws (§1.1).
    public static func rebase(_ endpoint: String, onto root: String) -> String {
        var path = endpoint
        if let scheme = endpoint.range(of: "://") {
            let afterScheme = endpoint[scheme.upperBound...]
            path = afterScheme.firstIndex(of: "/").map { String(afterScheme[$0...]) } ?? "/"
        }
        if !path.hasPrefix("/") { path = "/bind/" + path }  // a bare endpoint id
        let wsRoot = root.hasPrefix("https://") ? "wss://" + root.dropFirst(8) : "ws://" + root.dropFirst(root.hasPrefix("http://") ? 7 : 0)
        return wsRoot + path
    }
}
