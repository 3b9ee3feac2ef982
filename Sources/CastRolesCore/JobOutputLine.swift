/// One line an `onMessage` program printed on its standard output, as the status-update it becomes
/// (Docs/provider.md): `error: text` is an error, `progress: text` and any other line are information.
public struct JobOutputLine: Sendable, Equatable {
    public enum Level: String, Sendable {
        case info
        case error
    }

    public var level: Level
    public var message: String

    public init(level: Level, message: String) {
        self.level = level
        self.message = message
    }

    /// The longest line passed on; longer ones are cut.
    public static let maxLength = 2000

    /// Nil for a blank line.
    public static func parse(_ line: String) -> JobOutputLine? {
        var text = Substring(line)
        while let last = text.last, last == "\r" || last == " " || last == "\t" { text.removeLast() }
        guard !text.isEmpty else { return nil }
        let lower = text.prefix(9).lowercased()
        var level = Level.info
        if lower.hasPrefix("error:") {
            level = .error
            text = text.dropFirst(6)
        } else if lower.hasPrefix("progress:") {
            text = text.dropFirst(9)
        }
        while let first = text.first, first == " " { text.removeFirst() }
        guard !text.isEmpty else { return nil }
        return JobOutputLine(level: level, message: String(text.prefix(maxLength)))
    }
}
