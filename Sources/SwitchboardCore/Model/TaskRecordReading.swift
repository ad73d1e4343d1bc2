/// Reading a task back from the API's JSON (clients), in one pass and without a generic tree:
/// `payload` and `result` keep the bytes the server sent. Unknown fields are skipped, so a
/// newer server's additions do not break an older client.
extension TaskRecord {
    /// A document that is one task.
    public init(json bytes: [UInt8]) throws(SwitchboardError) {
        var reader = JSONPullReader(bytes)
        try self.init(reading: &reader)
        try reader.end()
    }

    /// The fields in the order `write(to:)` puts them, so that reading our own server's answers
    /// finds each key at the first try.
    private enum Field: Int, CaseIterable {
        case id, queue, type, runID, priority, metadata, payload, status, attempts, maxRetries, timeoutMS, lockKey
        case notBefore, createdAt, updatedAt, startedAt, finishedAt, workerID, leaseExpiresAt, result, error, errors
    }

    private static let fieldNames: [StaticString] = [
        "id", "queue", "type", "run_id", "priority", "metadata", "payload", "status", "attempts", "max_retries", "timeout_ms",
        "lock_key", "not_before", "created_at", "updated_at", "started_at", "finished_at", "worker_id", "lease_expires_at",
        "result", "error", "errors",
    ]

    /// The task object the reader stands on.
    public init(reading reader: inout JSONPullReader) throws(SwitchboardError) {
        var id, queue, type, statusName: String?
        var runID, lockKey, workerID, error: String?
        var priority, attempts, maxRetries, timeoutMS: Int64?
        var metadata: [String: String]?
        var payload, result: RawJSON?
        var notBefore, createdAt, updatedAt, startedAt, finishedAt, leaseExpiresAt: Timestamp?
        var errors: [TaskErrorEntry] = []
        var next = 0
        try reader.beginObject()
        while let key = try reader.nextKey() {
            guard let index = reader.index(of: key, in: Self.fieldNames, hint: next), let field = Field(rawValue: index) else {
                try reader.skipValue()
                continue
            }
            next = index + 1
            switch field {
            case .id: id = try reader.string()
            case .queue: queue = try reader.string()
            case .type: type = try reader.string()
            case .runID: runID = try reader.string()
            case .priority: priority = try reader.integer()
            case .metadata: metadata = try reader.stringMap()
            case .payload: payload = try reader.raw()
            case .status: statusName = try reader.string()
            case .attempts: attempts = try reader.integer()
            case .maxRetries: maxRetries = try reader.integer()
            case .timeoutMS: timeoutMS = try reader.integer()
            case .lockKey: lockKey = try reader.string()
            case .notBefore: notBefore = try reader.timestamp()
            case .createdAt: createdAt = try reader.timestamp()
            case .updatedAt: updatedAt = try reader.timestamp()
            case .startedAt: startedAt = try reader.timestamp()
            case .finishedAt: finishedAt = try reader.timestamp()
            case .workerID: workerID = try reader.string()
            case .leaseExpiresAt: leaseExpiresAt = try reader.timestamp()
            case .result: result = try reader.raw()
            case .error: error = try reader.string()
            case .errors: errors = try Self.readErrors(&reader)
            }
        }
        func need<T>(_ value: T?, _ field: String) throws(SwitchboardError) -> T {
            guard let value else { throw .malformed("a task without \(field)") }
            return value
        }
        let name = try need(statusName, "status")
        guard let status = TaskStatus(rawValue: name) else { throw .malformed("unknown status \(name)") }
        self.init(
            id: try need(id, "id"), queue: try need(queue, "queue"), type: try need(type, "type"), runID: runID,
            priority: UInt8(clamping: priority ?? 0), metadata: metadata ?? [:], payload: try need(payload, "payload"), status: status,
            attempts: Int(attempts ?? 0), maxRetries: Int(maxRetries ?? 0), timeoutMS: timeoutMS ?? 0, lockKey: lockKey,
            notBefore: notBefore, createdAt: try need(createdAt, "created_at"), updatedAt: try need(updatedAt, "updated_at"),
            startedAt: startedAt, finishedAt: finishedAt, workerID: workerID, leaseExpiresAt: leaseExpiresAt,
            result: result.flatMap { $0.isNull ? nil : $0 }, error: error, errors: errors)
    }

    private static func readErrors(_ reader: inout JSONPullReader) throws(SwitchboardError) -> [TaskErrorEntry] {
        guard !reader.isNull else {
            try reader.skipValue()
            return []
        }
        var entries: [TaskErrorEntry] = []
        try reader.beginArray()
        while try reader.nextElement() {
            var attempt: Int64?
            var at: Timestamp?
            var message, workerID: String?
            try reader.beginObject()
            while let key = try reader.nextKey() {
                if reader.key(key, is: "attempt") {
                    attempt = try reader.integer()
                } else if reader.key(key, is: "at") {
                    at = try reader.timestamp()
                } else if reader.key(key, is: "message") {
                    message = try reader.string()
                } else if reader.key(key, is: "worker_id") {
                    workerID = try reader.string()
                } else {
                    try reader.skipValue()
                }
            }
            guard let at else { throw .malformed("a task without errors[].at") }
            entries.append(TaskErrorEntry(attempt: Int(attempt ?? 0), at: at, message: message ?? "", workerID: workerID))
        }
        return entries
    }
}
