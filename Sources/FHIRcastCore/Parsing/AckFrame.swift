import Foundation

/// An ACK frame `{id, status}` from a websocket subscriber (C30). The status may be a number or a string.
public struct AckFrame: Sendable, Hashable {
    public var id: String
    public var status: Int

    /// Nil for anything that is not an ACK (other frames are tolerated and ignored, C30).
    public static func parse(_ value: JSONValue) -> AckFrame? {
        guard case .object(let o) = value, let id = o["id"]?.stringValue, o["event"] == nil else { return nil }
        let status: Int?
        switch o["status"] {
        case .int(let i)?: status = Int(exactly: i)
        case .double(let d)?: status = Int(exactly: d)
        case .string(let s)?: status = Int(s.trimmingCharacters(in: .whitespaces))
        default: status = nil
        }
        guard let status, (100..<600).contains(status) else { return nil }
        return AckFrame(id: id, status: status)
    }
}

/// Decoding an ACK straight from the frame's bytes. One ACK arrives per delivery, so this is a hot path: going
/// through `JSONValue` costs a thrown type-mismatch error per scalar, and a fifth of the server's CPU at 1,000
/// subscribers went there (Docs/performance.md). Same rules as `parse(_:)`.
extension AckFrame: Decodable {
    private enum Keys: String, CodingKey { case id, status, event }

    private enum StatusValue: Decodable {
        case number(Double)
        case text(String)

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let d = try? c.decode(Double.self) {
                self = .number(d)
            } else {
                self = .text(try c.decode(String.self))
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        guard !c.contains(.event) else {
            throw DecodingError.dataCorruptedError(forKey: .event, in: c, debugDescription: "an event, not an ACK")
        }
        let id = try c.decode(String.self, forKey: .id)
        let status: Int? =
            switch try c.decode(StatusValue.self, forKey: .status) {
            case .number(let d): Int(exactly: d)
            case .text(let s): Int(s.trimmingCharacters(in: .whitespaces))
            }
        guard let status, (100..<600).contains(status) else {
            throw DecodingError.dataCorruptedError(forKey: .status, in: c, debugDescription: "not an HTTP status")
        }
        self.init(id: id, status: status)
    }
}

extension AckFrame {
    private static let decoder = JSONDecoder()

    /// An ACK from a frame's bytes, or nil if the frame is not one (same rules as `parse(_:)`).
    ///
    /// One ACK comes back per delivery, so this runs 1,000 times per event at 1,000 subscribers. Foundation's
    /// decoders cost 10–15 µs for these 50 bytes on Linux (Docs/performance.md), so the shape every client sends,
    /// `{"id":"…","status":200}` (either key first, status a number or a string of digits, no escapes), is read
    /// directly; anything else goes through `JSONDecoder`. A unit test holds the two paths to the same answers.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> AckFrame? {
        var fast = FastAck(bytes)
        if let ack = fast.parse() { return ack }
        return try? decoder.decode(AckFrame.self, from: Data(bytes))
    }
}

/// The common ACK shape, read byte by byte. Nil means "not this shape", never "not an ACK".
struct FastAck {
    let bytes: UnsafeRawBufferPointer
    var i = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func parse() -> AckFrame? {
        guard take(UInt8(ascii: "{")) else { return nil }
        var id: String?
        var status: Int?
        for member in 0..<2 {
            if member == 1, !take(UInt8(ascii: ",")) { return nil }
            guard let key = string(), take(UInt8(ascii: ":")) else { return nil }
            switch key {
            case "id" where id == nil:
                guard let s = string() else { return nil }
                id = s
            case "status" where status == nil:
                skipSpace()
                if peek == UInt8(ascii: "\"") {
                    guard let s = string(), let n = Self.digits(Array(s.utf8)) else { return nil }
                    status = n
                } else {
                    let start = i
                    while i < bytes.count, bytes[i].isASCIIDigit { i += 1 }
                    guard let n = Self.digits(Array(bytes[start..<i])) else { return nil }
                    status = n
                }
            default:
                return nil
            }
        }
        guard take(UInt8(ascii: "}")) else { return nil }
        skipSpace()
        guard i == bytes.count, let id, let status, (100..<600).contains(status) else { return nil }
        return AckFrame(id: id, status: status)
    }

    /// 1–3 digits without a leading zero.
    static func digits(_ d: [UInt8]) -> Int? {
        guard (1...3).contains(d.count), d[0] != UInt8(ascii: "0"),
            d.allSatisfy(\.isASCIIDigit)
        else { return nil }
        return d.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }

    var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    mutating func skipSpace() {
        while let c = peek, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1 }
    }

    mutating func take(_ c: UInt8) -> Bool {
        skipSpace()
        guard peek == c else { return false }
        i += 1
        return true
    }

    /// A string without escapes or control characters, valid UTF-8.
    mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = i
        while let c = peek, c != UInt8(ascii: "\"") {
            guard c != UInt8(ascii: "\\"), c >= 0x20 else { return nil }
            i += 1
        }
        guard peek == UInt8(ascii: "\"") else { return nil }
        defer { i += 1 }
        return String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
    }
}
