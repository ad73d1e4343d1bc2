import Foundation

/// A name (a task id, a lock key, a queue) as one NATS subject token: base64url without padding,
/// as names may hold dots and other characters subjects do not allow.
enum SubjectToken {
    static func encode(_ name: String) -> String {
        Data(name.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Nil for a token `encode` cannot have made (padding, characters outside the alphabet, not UTF-8).
    static func decode(_ token: some StringProtocol) -> String? {
        guard !token.contains("=") else { return nil }
        var text = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        text += String(repeating: "=", count: (4 - text.count % 4) % 4)
        return Data(base64Encoded: text).flatMap { String(data: $0, encoding: .utf8) }
    }
}
