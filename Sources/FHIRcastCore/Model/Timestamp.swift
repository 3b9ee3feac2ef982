import Foundation

/// FHIRcast timestamps: ISO 8601, emitted in UTC with `Z` (C25); tolerated without a zone (read as UTC,
/// as the spec's own examples are written) or with an offset (converted to UTC).
public enum Timestamp {
    /// Parses an ISO 8601 date-time. Returns nil for anything that is not one.
    public static func parse(_ text: String) -> Date? {
        var s = text.trimmingCharacters(in: .whitespaces)
        guard s.count >= 19, s.contains("T") || s.contains("t") else { return nil }
        if !hasZone(s) { s += "Z" }
        if let d = try? Date(s, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
            return d
        }
        return try? Date(s, strategy: Date.ISO8601FormatStyle())
    }

    /// Normalises a timestamp to UTC with `Z` and millisecond precision. Returns nil if it does not parse.
    public static func normalize(_ text: String) -> String? {
        guard let d = parse(text) else { return nil }
        return format(d)
    }

    public static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    private static func hasZone(_ s: String) -> Bool {
        if s.hasSuffix("Z") || s.hasSuffix("z") { return true }
        // An offset looks like +hh:mm, -hh:mm, +hhmm or +hh after the time part.
        guard let t = s.firstIndex(where: { $0 == "T" || $0 == "t" }) else { return false }
        let time = s[s.index(after: t)...]
        return time.contains("+") || time.contains("-")
    }
}
