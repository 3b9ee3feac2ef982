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
        guard let parts = split(text), let whole = wholeSeconds(parts) else { return nil }
        if parts.zone.isEmpty || parts.zone == "Z" {
            return parts.dateTime + parts.fraction + "Z"
        }
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

    private static func split(_ raw: String) -> Parts? {
        let text = raw.trimmingCharacters(in: .whitespaces).uppercased()
        guard text.count >= 19, text.utf8.allSatisfy({ $0 < 128 }) else { return nil }
        let chars = Array(text)
        let dateTime = String(chars[0..<19])
        var rest = chars[19...]
        var fraction = ""
        if rest.first == "." {
            let digits = rest.dropFirst().prefix { $0.isNumber }
            guard !digits.isEmpty, digits.count <= 9 else { return nil }
            fraction = "." + String(digits)
            rest = rest.dropFirst(1 + digits.count)
        }
        let zone = String(rest)
        guard zone.isEmpty || zone == "Z" || zone.range(of: #"^[+-]\d\d(:?\d\d)?$"#, options: .regularExpression) != nil else {
            return nil
        }
        return Parts(dateTime: dateTime, fraction: fraction, zone: zone)
    }

    private static func wholeSeconds(_ p: Parts) -> Date? {
        var zone = p.zone.isEmpty ? "Z" : p.zone
        if zone.count == 3 { zone += ":00" }  // +hh
        if zone.count == 5, !zone.contains(":") { zone.insert(":", at: zone.index(zone.startIndex, offsetBy: 3)) }
        return try? Date(p.dateTime + zone, strategy: Date.ISO8601FormatStyle())
    }
}
