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
