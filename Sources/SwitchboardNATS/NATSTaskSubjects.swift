import Foundation

/// Where one deployment's tasks live: stream `<prefix>_tasks`, one subject per task, idempotency
/// key, lock key and queue, each holding only its last write (`max_msgs_per_subject: 1`), so the
/// stream is the current state and a subject's last sequence is its revision for
/// compare-and-set. Names are base64url-encoded into one subject token (ids allow `.`).
struct NATSTaskSubjects: Sendable {
    let prefix: String
    let stream: String

    init(prefix: String) {
        self.prefix = prefix
        stream = "\(prefix)_tasks"
    }

    enum Kind: String, CaseIterable {
        case task = "task", idempotency = "idem", lockKey = "key", queue = "queue"
        /// Each server's clock probe (`ClockReference`): the stream stamps it with its time.
        case clock = "clock"
    }

    var patterns: [String] { Kind.allCases.map { "\(prefix).\($0.rawValue).*" } }

    func subject(_ kind: Kind, _ name: String) -> String { "\(prefix).\(kind.rawValue).\(Self.encode(name))" }

    /// The kind and name a subject of this stream stands for.
    func parse(_ subject: String) -> (kind: Kind, name: String)? {
        let parts = subject.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == prefix, let kind = Kind(rawValue: String(parts[1])),
            let name = Self.decode(String(parts[2]))
        else { return nil }
        return (kind, name)
    }

    static func encode(_ name: String) -> String {
        Data(name.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ token: String) -> String? {
        var text = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        text += String(repeating: "=", count: (4 - text.count % 4) % 4)
        return Data(base64Encoded: text).flatMap { String(data: $0, encoding: .utf8) }
    }
}
