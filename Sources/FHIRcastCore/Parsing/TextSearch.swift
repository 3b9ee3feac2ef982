extension StringProtocol {
    /// Whether `part` occurs in the text, comparing UTF-8 bytes (exact and case-sensitive).
    ///
    /// On Linux, `contains` with a string argument resolves to Foundation's, which bridges both strings to NSString:
    /// 2–8 % of a publish where it sat on every event's path (content types, event-name checks).
    @inlinable public func containsBytes(_ part: some StringProtocol) -> Bool {
        let text = utf8
        let part = part.utf8
        guard let first = part.first else { return true }
        var from = text.startIndex
        while let start = text[from...].firstIndex(of: first) {
            if text[start...].starts(with: part) { return true }
            from = text.index(after: start)
        }
        return false
    }
}

extension UInt8 {
    /// `0`–`9`: the digit test of the byte-level readers (ACK frames, timestamps).
    var isASCIIDigit: Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) }
}
