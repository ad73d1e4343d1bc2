import Logging
import SwitchboardAPI
import SwitchboardCore
import SwitchboardJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One JSON object per line on standard error, for log shippers:
/// `{"ts", "level", "label", "message", …metadata}`.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.key("ts"); w.timestamp(.now())
        w.key("level"); w.string(event.level.rawValue)
        w.key("label"); w.string(label)
        w.key("message"); w.string(event.message.description)
        w.key("source"); w.string(event.source)
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            w.key(computed: key)
            w.string(value.description)
        }
        w.endObject()
        var line = w.bytes
        line.append(0x0A)
        // One write(2) per line, so lines from concurrent loggers never interleave.
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
