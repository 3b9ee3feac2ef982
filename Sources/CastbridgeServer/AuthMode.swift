/// Who may call castbridge (`--auth`, Docs/security.md).
public enum AuthMode: String, Sendable, CaseIterable {
    /// No tokens: only while the server binds a loopback address, unless anonymous access is allowed outright.
    case off
    /// castbridge's own development authorization server issues the tokens (HS256, the configured secret).
    case mock
    /// Tokens from an OpenID Connect provider: discovery and JWKS from `--oidc-issuer`.
    case oidc
}

extension ServerConfiguration {
    /// Whether an address is one only this machine can reach.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased()
        return h == "localhost" || h == "::1" || h == "[::1]" || h.hasPrefix("127.")
    }

    /// Why this configuration must not start: anonymous access on an address other machines can reach, unless
    /// allowed outright. Nil when it may.
    public var exposureProblem: String? {
        guard auth == .off, !Self.isLoopback(host), !allowAnonymous else { return nil }
        return "refusing to serve patient context without tokens on \(host), which other machines can reach: "
            + "use --auth mock (development) or --auth oidc --oidc-issuer URL, bind 127.0.0.1, "
            + "or pass --allow-anonymous if something in front of castbridge does the authorization"
    }
}
