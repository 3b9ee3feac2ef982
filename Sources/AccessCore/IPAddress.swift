import Foundation

/// An IPv4 or IPv6 address as bytes (4 or 16), parsed from its text form. An IPv4-mapped IPv6 address
/// (`::ffff:10.0.0.1`) is read as the IPv4 address it carries, so that it meets the same rules.
public struct IPAddress: Sendable, Equatable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(_ text: String) {
        var t = Substring(text)
        if t.hasPrefix("["), t.hasSuffix("]") { t = t.dropFirst().dropLast() }
        if let zone = t.firstIndex(of: "%") { t = t[..<zone] }
        if let v4 = Self.parseV4(t) {
            bytes = v4
        } else if let v6 = Self.parseV6(t) {
            bytes = v6.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] ? Array(v6.suffix(4)) : v6
        } else {
            return nil
        }
    }

    public var isV4: Bool { bytes.count == 4 }

    public var description: String {
        if isV4 { return bytes.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
    }

    static func parseV4(_ t: Substring) -> [UInt8]? {
        let parts = t.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt8(p) else { return nil }
            out.append(n)
        }
        return out
    }

    static func parseV6(_ t: Substring) -> [UInt8]? {
        guard t.contains(":"), t.count <= 45 else { return nil }
        var head: [UInt16] = [], tail: [UInt16] = []
        let halves = t.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String, allowV4: Bool) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            let parts = s.split(separator: ":", omittingEmptySubsequences: false)
            for (i, p) in parts.enumerated() {
                if allowV4, i == parts.count - 1, p.contains("."), let v4 = parseV4(p) {
                    out.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    out.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                    continue
                }
                guard !p.isEmpty, p.count <= 4, p.allSatisfy({ $0.isASCII && $0.isHexDigit }), let n = UInt16(p, radix: 16) else { return nil }
                out.append(n)
            }
            return out
        }
        guard let h = groups(halves[0], allowV4: halves.count == 1) else { return nil }
        head = h
        if halves.count == 2 {
            guard let tl = groups(halves[1], allowV4: true) else { return nil }
            tail = tl
            guard head.count + tail.count <= 7 else { return nil }
        } else {
            guard head.count == 8 else { return nil }
        }
        let all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }
}

/// An address range such as `10.0.0.0/8` or `fd00::/8`.
public struct CIDR: Sendable, Equatable {
    public let base: IPAddress
    public let prefix: Int

    public init?(_ text: String) {
        // Split keeping empty pieces: "" and "/8" have no address and are refused, never indexed past the end.
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, let base = IPAddress(String(first)) else { return nil }
        let bits = base.bytes.count * 8
        let prefix = parts.count == 2 ? Int(parts[1]) : bits
        guard let prefix, (0...bits).contains(prefix) else { return nil }
        self.base = base
        self.prefix = prefix
    }

    public func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == base.bytes.count else { return false }
        var left = prefix
        for (a, b) in zip(address.bytes, base.bytes) {
            guard left > 0 else { return true }
            let mask: UInt8 = left >= 8 ? 0xff : ~(0xff >> UInt8(left))
            if a & mask != b & mask { return false }
            left -= 8
        }
        return true
    }
}
