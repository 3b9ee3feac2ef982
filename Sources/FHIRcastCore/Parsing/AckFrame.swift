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
