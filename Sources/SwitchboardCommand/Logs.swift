import Logging

enum Logs {
    /// Text for people or one JSON object per line, to standard error, at `level`.
    static func bootstrap(level: String, format: String) {
        let level = Logger.Level(rawValue: level) ?? .info
        let json = format == "json"
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
