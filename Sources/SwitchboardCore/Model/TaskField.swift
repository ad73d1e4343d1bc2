/// Every field of a task as the API shows it, in the order the server writes them: the one list
/// of the task's shape. The API's writer and reader (`SwitchboardAPI`) and Redis's hash coding
/// switch over it, so a field added here is a compile error wherever it is not yet handled, and
/// a test holds `openapi.yaml`'s `Task` schema to it.
public enum TaskField: Int, CaseIterable, Sendable {
    case id, queue, type, runID, priority, metadata, payload, status, attempts, releases, maxRetries, timeoutMS, lockKey
    case notBefore, createdAt, updatedAt, startedAt, finishedAt, workerID, leaseExpiresAt, result, error, errors

    /// The JSON member's name (a switch, so that a writer naming a field gets a constant).
    @inlinable
    public var name: StaticString {
        switch self {
        case .id: "id"
        case .queue: "queue"
        case .type: "type"
        case .runID: "run_id"
        case .priority: "priority"
        case .metadata: "metadata"
        case .payload: "payload"
        case .status: "status"
        case .attempts: "attempts"
        case .releases: "releases"
        case .maxRetries: "max_retries"
        case .timeoutMS: "timeout_ms"
        case .lockKey: "lock_key"
        case .notBefore: "not_before"
        case .createdAt: "created_at"
        case .updatedAt: "updated_at"
        case .startedAt: "started_at"
        case .finishedAt: "finished_at"
        case .workerID: "worker_id"
        case .leaseExpiresAt: "lease_expires_at"
        case .result: "result"
        case .error: "error"
        case .errors: "errors"
        }
    }

    /// May be null. Every field is always present in the API's JSON, null or not.
    public var isNullable: Bool {
        switch self {
        case .runID, .lockKey, .notBefore, .startedAt, .finishedAt, .workerID, .leaseExpiresAt, .result, .error: true
        default: false
        }
    }

    /// The names in field order, for readers that look a key up by position.
    public static let names: [StaticString] = allCases.map(\.name)
}

/// The members of one entry of a task's `errors`.
public enum TaskErrorField: Int, CaseIterable, Sendable {
    case attempt, at, message, workerID, startedAt

    @inlinable
    public var name: StaticString {
        switch self {
        case .attempt: "attempt"
        case .at: "at"
        case .message: "message"
        case .workerID: "worker_id"
        case .startedAt: "started_at"
        }
    }

    public static let names: [StaticString] = allCases.map(\.name)
}
