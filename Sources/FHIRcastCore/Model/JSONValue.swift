import Foundation

/// A JSON value that is carried through the hub unchanged.
///
/// FHIRcast contexts hold arbitrary FHIR resources; the hub must pass them on JSON-equal (C28), so they
/// are kept as a tree rather than decoded into typed FHIR models. Integers are kept apart from other
/// numbers so that identifiers and counts survive a round trip exactly.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public subscript(key: String) -> JSONValue? {
        if case .object(let dict) = self { return dict[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The JSON type name, for error messages ("expected a string, got an array").
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

extension JSONValue {
    /// Parses JSON text. This is the fast way in: Foundation's `JSONSerialization` reads the whole tree in one
    /// pass, where `Decodable` (below) has to try each JSON type in turn and pays for a thrown error at every
    /// mismatch, several times per value. Top-level scalars are accepted, as `JSONDecoder` accepts them.
    public static func parse(_ data: Data) throws -> JSONValue {
        JSONValue(foundation: try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
    }

    /// A tree from `JSONSerialization`. Booleans are its two shared `NSNumber`s; other numbers are integers unless
    /// they were written as floating point (or do not fit 64 bits), as with `JSONDecoder`.
    init(foundation value: Any) {
        switch value {
        case let s as String:
            self = .string(s)
        case let o as [String: Any]:
            self = .object(o.mapValues(JSONValue.init(foundation:)))
        case let a as [Any]:
            self = .array(a.map(JSONValue.init(foundation:)))
        case let n as NSNumber:
            if n === Self.trueNumber {
                self = .bool(true)
            } else if n === Self.falseNumber {
                self = .bool(false)
            } else {
                switch UInt8(bitPattern: n.objCType.pointee) {
                case UInt8(ascii: "d"), UInt8(ascii: "f"):
                    let d = n.doubleValue
                    // `1e3` is an integer to JSONDecoder too.
                    if d.rounded() == d, let i = Int64(exactly: d) { self = .int(i) } else { self = .double(d) }
                case UInt8(ascii: "Q"):
                    let u = n.uint64Value
                    self = u <= UInt64(Int64.max) ? .int(Int64(u)) : .double(n.doubleValue)
                default:
                    self = .int(n.int64Value)
                }
            }
        default:
            self = .null
        }
    }

    private static let trueNumber = NSNumber(value: true)
    private static let falseNumber = NSNumber(value: false)
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? container.decode(Double.self) {
            self = .double(d)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .int(let i): try container.encode(i)
        case .double(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}
