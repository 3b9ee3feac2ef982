import Logging

/// `--log-format`: swift-log's text lines, or one JSON object per line (`JSONLogHandler`).
public enum LogFormat: String, Sendable, CaseIterable {
    case text
    case json

    /// The log handler of this format for a label, at a level.
    public func handler(label: String, level: Logger.Level) -> any LogHandler {
        switch self {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        case .json:
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
