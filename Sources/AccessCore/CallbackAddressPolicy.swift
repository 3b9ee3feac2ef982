/// Where a webhook callback may point (Docs/security.md): never at link-local or cloud metadata addresses, nor at
/// unspecified, multicast or broadcast ones; at private and loopback ranges only when allowed (`--webhook-allow`),
/// loopback also while the server itself binds loopback (a developer's machine). Everything else (public addresses)
/// is allowed.
public struct CallbackAddressPolicy: Sendable, Equatable {
    public var allowed: [CIDR]
    public var allowsLoopback: Bool

    public init(allowed: [CIDR] = [], allowsLoopback: Bool = false) {
        self.allowed = allowed
        self.allowsLoopback = allowsLoopback
    }

    static let never: [(CIDR, String)] = [
        ("169.254.0.0/16", "a link-local address (cloud metadata services live there)"),
        ("fe80::/10", "a link-local address"),
        ("fd00:ec2::254/128", "a cloud metadata address"),
        ("0.0.0.0/8", "an unspecified address"), ("::/128", "an unspecified address"),
        ("224.0.0.0/4", "a multicast address"), ("ff00::/8", "a multicast address"),
        ("255.255.255.255/32", "the broadcast address"),
    ].map { (CIDR($0.0)!, $0.1) }

    static let loopback: [CIDR] = ["127.0.0.0/8", "::1/128"].map { CIDR($0)! }

    static let privateRanges: [CIDR] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"].map { CIDR($0)! }

    /// Nil when a callback may be sent to `address`; else why not.
    public func refusal(for address: IPAddress) -> String? {
        for (range, what) in Self.never where range.contains(address) {
            return "\(address) is \(what), which callbacks may never reach"
        }
        let isLoopback = Self.loopback.contains { $0.contains(address) }
        let isInternal = Self.privateRanges.contains { $0.contains(address) }
        guard isLoopback || isInternal else { return nil }
        if allowed.contains(where: { $0.contains(address) }) || (isLoopback && allowsLoopback) { return nil }
        return "\(address) is a \(isLoopback ? "loopback" : "private") address; allow it with --webhook-allow CIDR if callbacks must reach it"
    }
}
