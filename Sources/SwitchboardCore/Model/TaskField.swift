/// Every field of a task as the API shows it, in the order the server writes them: the one list
/// of the task's shape. The API's writer and reader (`SwitchboardAPI`) and Redis's hash coding
/// switch over it, so a field added here is a compile error wherever it is not yet handled, and
/// a test holds `openapi.yaml`'s `Task` schema to it.
public enum TaskField: Int, CaseIterable, Sendable {
    case id, queue, type, runID, priority, metadata, payload, status, attempts, maxRetries, timeoutMS, lockKey
    case notBefore, createdAt, updatedAt, startedAt, finishedAt, workerID, leaseExpiresAt, result, error, errors

    /// The JSON member's name.
    public var name: StaticString { Self.names[rawValue] }

    /// May be null. Every field is always present in the API's JSON, null or not.
    public var isNullable: Bool {
        switch self {
        case .runID, .lockKey, .notBefore, .startedAt, .finishedAt, .workerID, .leaseExpiresAt, .result, .error: true
        default: false
        }
    }

    /// The names in field order, for readers that look a key up by position.
    public static let names: [StaticString] = [
        "id", "queue", "type", "run_id", "priority", "metadata", "payload", "status", "attempts", "max_retries", "timeout_ms",
        "lock_key", "not_before", "created_at", "updated_at", "started_at", "finished_at", "worker_id", "lease_expires_at",
        "result", "error", "errors",
    ]
}

/// The members of one entry of a task's `errors`.
public enum TaskErrorField: Int, CaseIterable, Sendable {
    case attempt, at, message, workerID

    public var name: StaticString { Self.names[rawValue] }

    public static let names: [StaticString] = ["attempt", "at", "message", "worker_id"]
}
