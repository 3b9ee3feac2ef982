import FHIRcastCore

/// Mutations for robustness tests (issue #18, Docs/reliability.md): values and byte strings that have broken parsers
/// elsewhere, and seeded ways of changing a valid input into a hostile one. The same seed gives the same inputs.
public enum Mutations {
    /// Values that have broken parsers elsewhere: non-numbers, extremes, wrong types, control and surrogate characters.
    public static let hostileValues: [JSONValue] = [
        "nan", "NaN", "inf", "-inf", "1e400", .double(1e308), .double(-1e308), .double(4.9e-324), .int(.max), .int(.min), -1, 0,
        "", "*", " ", .string(String(repeating: "a", count: 4096)), "\u{0000}", "\u{202E}é", "../../etc/passwd", "%00", "%C3",
        .null, true, [], [:], [[[[[[[[[[]]]]]]]]]], "2026-13-45T99:99:99Z", "0000-00-00T00:00:00Z", "9999-12-31T23:59:59.9999999999Z",
        "Patient-open", "patient-open", "status-request", "dicom-send", "-request", ".", ".dcm", "a.exe.dcm",
        ["key": "patient"], ["resourceType": "Bundle", "entry": [["request": ["method": "DELETE"]]]], ["files": [["fileName": 3]]],
    ]

    /// Byte strings worth dropping into a body anywhere.
    public static let hostileTokens: [[UInt8]] = [
        Array("1e400".utf8), Array("-0".utf8), Array("99999999999999999999999999".utf8), Array("\"\\ud800\"".utf8),
        Array(repeating: UInt8(ascii: "["), count: 4000), Array(repeating: UInt8(ascii: "{"), count: 2000), Array("\"a\":".utf8),
        [0xC3], [0xFF, 0xFE], [0x00], [0xED, 0xA0, 0x80], Array("%".utf8), Array("%G0".utf8), Array("&&==&".utf8),
        Array("\r\n--b1\r\n".utf8), Array("\r\n--b1--".utf8), Array("\r\nContent-Typ\u{00C3}: x\r\n".utf8), Array("--b1".utf8),
    ]

    public static func mutateBytes(_ bytes: inout [UInt8], _ random: inout SplitMix64) {
        switch random.next(upTo: 6) {
        case 0 where !bytes.isEmpty:
            for _ in 0...random.next(upTo: 8) { bytes[random.next(upTo: bytes.count)] = UInt8(truncatingIfNeeded: random.next()) }
        case 1:
            bytes.insert(contentsOf: hostileTokens[random.next(upTo: hostileTokens.count)], at: random.next(upTo: bytes.count + 1))
        case 2 where !bytes.isEmpty:
            let from = random.next(upTo: bytes.count)
            bytes.removeSubrange(from..<min(bytes.count, from + 1 + random.next(upTo: 64)))
        case 3 where !bytes.isEmpty:
            let from = random.next(upTo: bytes.count)
            let piece = bytes[from..<min(bytes.count, from + 1 + random.next(upTo: 64))]
            bytes.insert(contentsOf: piece, at: random.next(upTo: bytes.count + 1))
        case 4 where !bytes.isEmpty:
            bytes.removeLast(random.next(upTo: bytes.count) + 1)
        default:
            bytes += (0..<random.next(upTo: 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        }
    }

    /// The same tree with one value, at a random depth, replaced by a hostile one.
    public static func replaceRandomValue(in value: JSONValue, _ random: inout SplitMix64) -> JSONValue {
        let hostile = hostileValues[random.next(upTo: hostileValues.count)]
        switch value {
        case .object(var o) where !o.isEmpty && random.next(upTo: 4) != 0:
            let keys = o.keys.sorted()
            let key = keys[random.next(upTo: keys.count)]
            o[key] = replaceRandomValue(in: o[key] ?? .null, &random)
            return .object(o)
        case .array(var a) where !a.isEmpty && random.next(upTo: 4) != 0:
            let i = random.next(upTo: a.count)
            a[i] = replaceRandomValue(in: a[i], &random)
            return .array(a)
        default:
            return hostile
        }
    }
}
