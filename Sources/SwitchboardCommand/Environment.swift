import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `SWITCHBOARD_*` environment variables as option defaults. A malformed value stops the
/// program with a message instead of being ignored.
enum Environment {
    static func string(_ name: String) -> String? {
        getenv("SWITCHBOARD_\(name)").map { String(cString: $0) }
    }

    static func int(_ name: String) -> Int? { parsed(name, "a whole number") }

    static func double(_ name: String) -> Double? { parsed(name, "a number") }

    private static func parsed<Value: LosslessStringConvertible>(_ name: String, _ what: String) -> Value? {
        guard let text = string(name) else { return nil }
        guard let value = Value(text) else {
            let message = Array("switchboard: SWITCHBOARD_\(name)=\(text) is not \(what)\n".utf8)
            _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            exit(64)
        }
        return value
    }

    /// `1`, `true` or `yes` (any case) is on; unset or anything else is off.
    static func flag(_ name: String) -> Bool {
        guard let text = string(name)?.lowercased() else { return false }
        return ["1", "true", "yes"].contains(text)
    }

    /// A comma-separated list, blanks dropped.
    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static var hostname: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
