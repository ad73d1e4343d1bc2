/// Where one deployment's tasks live: stream `<prefix>_tasks`, one subject per task, idempotency
/// key, lock key and queue, each holding only its last write (`max_msgs_per_subject: 1`), so the
/// stream is the current state and a subject's last sequence is its revision for
/// compare-and-set. Names are one subject token each (`SubjectToken`).
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

    func subject(_ kind: Kind, _ name: String) -> String { "\(prefix).\(kind.rawValue).\(SubjectToken.encode(name))" }

    /// The kind and name a subject of this stream stands for.
    func parse(_ subject: String) -> (kind: Kind, name: String)? {
        let parts = subject.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == prefix, let kind = Kind(rawValue: String(parts[1])), let name = SubjectToken.decode(parts[2])
        else { return nil }
        return (kind, name)
    }
}
