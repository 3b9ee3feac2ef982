import Foundation

/// An `application/x-www-form-urlencoded` body as an ordered list of fields.
///
/// Kept as a list, not a dictionary, so that a duplicated parameter can be refused (C13).
public struct FormFields: Sendable, Hashable {
    public private(set) var fields: [(name: String, value: String)]

    public static func == (a: FormFields, b: FormFields) -> Bool {
        a.fields.elementsEqual(b.fields) { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for f in fields {
            hasher.combine(f.name)
            hasher.combine(f.value)
        }
    }

    public init(_ fields: [(name: String, value: String)]) {
        self.fields = fields
    }

    /// Parses a form body; `+` is a space and `%XX` escapes are decoded. Throws on a broken escape.
    public static func parse(_ body: String) throws(HubError) -> FormFields {
        var fields: [(String, String)] = []
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let rawName = String(parts[0])
            let rawValue = parts.count > 1 ? String(parts[1]) : ""
            guard let name = decode(rawName) else {
                throw .badRequest("malformed form body: bad percent-encoding in parameter name '\(rawName)'")
            }
            guard let value = decode(rawValue) else {
                throw .badRequest("malformed form body: bad percent-encoding in the value of '\(name)'")
            }
            if name.isEmpty { throw .badRequest("malformed form body: a parameter has no name") }
            fields.append((name, value))
        }
        return FormFields(fields)
    }

    private static func decode(_ s: String) -> String? {
        s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// The names given more than once, in order of first appearance.
    public var duplicatedNames: [String] {
        var counts: [String: Int] = [:]
        var order: [String] = []
        for f in fields {
            if counts[f.name] == nil { order.append(f.name) }
            counts[f.name, default: 0] += 1
        }
        return order.filter { counts[$0]! > 1 }
    }

    /// The value of the first field with one of these names (aliases such as `hub.lease` or `hub_mode`).
    public func value(_ names: String...) -> String? {
        for name in names {
            if let f = fields.first(where: { $0.name == name }) { return f.value }
        }
        return nil
    }

    public var names: [String] { fields.map(\.name) }
}
