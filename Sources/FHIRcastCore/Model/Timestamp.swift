import Foundation

/// FHIRcast timestamps: ISO 8601, emitted in UTC with `Z` (C25); tolerated without a zone (read as UTC,
/// as the spec's own examples are written) or with an offset (converted to UTC).
///
/// Normalising keeps the fractional-second digits exactly as sent: a round trip through `Date` would turn
/// `.14` into `.139`, and subscribers order events by these strings (C18: the original timestamp).
public enum Timestamp {
    /// Parses an ISO 8601 date-time. Returns nil for anything that is not one.
    public static func parse(_ text: String) -> Date? {
        guard let parts = split(text) else { return nil }
        return wholeSeconds(parts)?.addingTimeInterval(Double("0" + parts.fraction) ?? 0)
    }

    /// The timestamp in UTC with `Z`, fractional digits kept. Nil if it does not parse.
    public static func normalize(_ text: String) -> String? {
        guard let parts = split(text) else { return nil }
        if parts.zone.isEmpty || parts.zone == "Z" {
            // Already UTC, and `split` checked it is a date and time of the calendar: nothing to convert.
            return parts.dateTime + parts.fraction + "Z"
        }
        guard let whole = wholeSeconds(parts) else { return nil }
        let utc = whole.formatted(Date.ISO8601FormatStyle())  // yyyy-MM-ddTHH:mm:ssZ
        return String(utc.dropLast()) + parts.fraction + "Z"
    }

    /// Formats a hub-made timestamp: UTC, milliseconds, `Z`.
    public static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    private struct Parts {
        var dateTime: String  // yyyy-MM-ddTHH:mm:ss
        var fraction: String  // "" or ".ddd"
        var zone: String  // "", "Z" or ±hh:mm
    }

    /// The three parts, read byte by byte (a regular expression and Foundation's trimming cost more than the rest of
    /// a publish's validation together). Surrounding spaces and tabs are ignored, letters are read upper-case.
    private static func split(_ raw: String) -> Parts? {
        var scalars = Substring(raw).unicodeScalars[...]
        while let s = scalars.first, isSpace(s) { scalars.removeFirst() }
        while let s = scalars.last, isSpace(s) { scalars.removeLast() }
        var bytes = Array(Substring(scalars).utf8)
        guard bytes.count >= 19, bytes.allSatisfy({ $0 < 128 }) else { return nil }
        for i in bytes.indices where (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[i]) { bytes[i] -= 32 }
        guard isDateTime(bytes[..<19]) else { return nil }
        var end = 19
        var fraction = ""
        if end < bytes.count, bytes[end] == UInt8(ascii: ".") {
            var j = end + 1
            while j < bytes.count, bytes[j].isASCIIDigit { j += 1 }
            guard (1...9).contains(j - end - 1) else { return nil }
            fraction = String(decoding: bytes[end..<j], as: UTF8.self)
            end = j
        }
        let zone = bytes[end...]
        guard isZone(zone) else { return nil }
        return Parts(
            dateTime: String(decoding: bytes[..<19], as: UTF8.self), fraction: fraction,
            zone: String(decoding: zone, as: UTF8.self))
    }

    /// `yyyy-MM-ddTHH:mm:ss` naming a real day (no 30 February) and time. A leap second (`:60`) is refused: many
    /// subscribers' parsers (JavaScript's `Date.parse`, for one) cannot read it.
    private static func isDateTime(_ b: ArraySlice<UInt8>) -> Bool {
        let b = Array(b)
        let separators: [(Int, Character)] = [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")]
        for (i, c) in separators where b[i] != c.asciiValue { return false }
        for i in b.indices where !separators.contains(where: { $0.0 == i }) && !b[i].isASCIIDigit { return false }
        func number(_ from: Int, _ count: Int) -> Int { b[from..<(from + count)].reduce(0) { $0 * 10 + Int($1 - 48) } }
        let year = number(0, 4)
        let month = number(5, 2)
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(month), (1...days[month - 1]).contains(number(8, 2)) else { return false }
        return number(11, 2) <= 23 && number(14, 2) <= 59 && number(17, 2) <= 59
    }

    /// "", "Z", or ±hh, ±hhmm, ±hh:mm.
    private static func isZone(_ z: ArraySlice<UInt8>) -> Bool {
        let b = Array(z)
        if b.isEmpty || b == [UInt8(ascii: "Z")] { return true }
        guard b.count >= 3, b[0] == UInt8(ascii: "+") || b[0] == UInt8(ascii: "-"), b[1].isASCIIDigit, b[2].isASCIIDigit else {
            return false
        }
        switch b.count {
        case 3: return true
        case 5: return b[3].isASCIIDigit && b[4].isASCIIDigit
        case 6: return b[3] == UInt8(ascii: ":") && b[4].isASCIIDigit && b[5].isASCIIDigit
        default: return false
        }
    }

    /// What `CharacterSet.whitespaces` holds: tab and the space separators.
    private static func isSpace(_ s: Unicode.Scalar) -> Bool { s == "\t" || s.properties.generalCategory == .spaceSeparator }

    private static func wholeSeconds(_ p: Parts) -> Date? {
        var zone = p.zone.isEmpty ? "Z" : p.zone
        if zone.count == 3 { zone += ":00" }  // +hh
        if zone.count == 5, !zone.contains(":") { zone.insert(":", at: zone.index(zone.startIndex, offsetBy: 3)) }
        return try? Date(p.dateTime + zone, strategy: Date.ISO8601FormatStyle())
    }
}
