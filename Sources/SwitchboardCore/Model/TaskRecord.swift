/// One failed attempt, kept in the task's error history.
public struct TaskErrorEntry: Sendable, Hashable, Codable {
    public var attempt: Int
    public var at: Timestamp
    public var message: String
    public var workerID: String?

    public init(attempt: Int, at: Timestamp, message: String, workerID: String?) {
        self.attempt = attempt
        self.at = at
        self.message = message
        self.workerID = workerID
    }

    enum CodingKeys: String, CodingKey {
        case attempt, at, message
        case workerID = "worker_id"
    }
}

/// A task as the API shows it (DESIGN.md §2).
public struct TaskRecord: Sendable, Hashable {
    public var id: String
    public var queue: String
    public var type: String
    public var runID: String?
    public var priority: UInt8
    public var metadata: [String: String]
    public var payload: RawJSON
    public var status: TaskStatus
    /// Attempts started so far; a lease starts one, a release gives it back.
    public var attempts: Int
    public var maxRetries: Int
    public var timeoutMS: Int64
    public var lockKey: String?
    public var notBefore: Timestamp?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var startedAt: Timestamp?
    public var finishedAt: Timestamp?
    public var workerID: String?
    public var leaseExpiresAt: Timestamp?
    public var result: RawJSON?
    /// The latest failure's message.
    public var error: String?
    /// The most recent failures, oldest first (bounded by `TaskLimits.maxErrorHistory`).
    public var errors: [TaskErrorEntry]

    public init(
        id: String, queue: String, type: String, runID: String? = nil, priority: UInt8 = 0,
        metadata: [String: String] = [:], payload: RawJSON, status: TaskStatus, attempts: Int = 0,
        maxRetries: Int, timeoutMS: Int64, lockKey: String? = nil, notBefore: Timestamp? = nil,
        createdAt: Timestamp, updatedAt: Timestamp, startedAt: Timestamp? = nil, finishedAt: Timestamp? = nil,
        workerID: String? = nil, leaseExpiresAt: Timestamp? = nil, result: RawJSON? = nil, error: String? = nil,
        errors: [TaskErrorEntry] = []
    ) {
        self.id = id
        self.queue = queue
        self.type = type
        self.runID = runID
        self.priority = priority
        self.metadata = metadata
        self.payload = payload
        self.status = status
        self.attempts = attempts
        self.maxRetries = maxRetries
        self.timeoutMS = timeoutMS
        self.lockKey = lockKey
        self.notBefore = notBefore
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.workerID = workerID
        self.leaseExpiresAt = leaseExpiresAt
        self.result = result
        self.error = error
        self.errors = errors
    }
}

// MARK: - JSON

extension TaskRecord {
    /// The task's JSON, written directly: `payload` and `result` go out as the bytes they came in as.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.string(id)
        w.key("queue"); w.string(queue)
        w.key("type"); w.string(type)
        w.key("run_id"); w.string(runID)
        w.key("priority"); w.int(priority)
        w.key("metadata"); w.stringMap(metadata)
        w.key("payload"); w.raw(payload)
        w.key("status"); w.string(status.rawValue)
        w.key("attempts"); w.int(attempts)
        w.key("max_retries"); w.int(maxRetries)
        w.key("timeout_ms"); w.int(timeoutMS)
        w.key("lock_key"); w.string(lockKey)
        w.key("not_before"); w.timestamp(notBefore)
        w.key("created_at"); w.timestamp(createdAt)
        w.key("updated_at"); w.timestamp(updatedAt)
        w.key("started_at"); w.timestamp(startedAt)
        w.key("finished_at"); w.timestamp(finishedAt)
        w.key("worker_id"); w.string(workerID)
        w.key("lease_expires_at"); w.timestamp(leaseExpiresAt)
        w.key("result"); w.raw(result)
        w.key("error"); w.string(error)
        w.key("errors")
        w.beginArray()
        for entry in errors {
            w.beginObject()
            w.key("attempt"); w.int(entry.attempt)
            w.key("at"); w.timestamp(entry.at)
            w.key("message"); w.string(entry.message)
            w.key("worker_id"); w.string(entry.workerID)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    public func jsonBytes() -> [UInt8] {
        var writer = JSONWriter(capacity: 512 + payload.bytes.count + (result?.bytes.count ?? 0))
        write(to: &writer)
        return writer.bytes
    }
}

extension TaskLease {
    /// `{"lease_id", "expires_at", "task"}`: one item of a lease answer (DESIGN.md §3).
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("lease_id"); w.string(leaseID)
        w.key("expires_at"); w.timestamp(expiresAt)
        w.key("task"); task.write(to: &w)
        w.endObject()
    }
}

extension Timestamp: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = Timestamp(rfc3339: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an RFC 3339 time: \(text)"))
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rfc3339)
    }
}

/// `Codable` for clients and tests. The server writes tasks with `write(to:)` instead, which
/// never turns `payload` into a tree.
extension TaskRecord: Codable {
    enum CodingKeys: String, CodingKey {
        case id, queue, type, priority, metadata, payload, status, attempts, result, error, errors
        case runID = "run_id"
        case maxRetries = "max_retries"
        case timeoutMS = "timeout_ms"
        case lockKey = "lock_key"
        case notBefore = "not_before"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case workerID = "worker_id"
        case leaseExpiresAt = "lease_expires_at"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try c.decode(String.self, forKey: .id),
            queue: try c.decode(String.self, forKey: .queue),
            type: try c.decode(String.self, forKey: .type),
            runID: try c.decodeIfPresent(String.self, forKey: .runID),
            priority: try c.decode(UInt8.self, forKey: .priority),
            metadata: try c.decodeIfPresent([String: String].self, forKey: .metadata) ?? [:],
            payload: try c.decode(RawJSON.self, forKey: .payload),
            status: try c.decode(TaskStatus.self, forKey: .status),
            attempts: try c.decode(Int.self, forKey: .attempts),
            maxRetries: try c.decode(Int.self, forKey: .maxRetries),
            timeoutMS: try c.decode(Int64.self, forKey: .timeoutMS),
            lockKey: try c.decodeIfPresent(String.self, forKey: .lockKey),
            notBefore: try c.decodeIfPresent(Timestamp.self, forKey: .notBefore),
            createdAt: try c.decode(Timestamp.self, forKey: .createdAt),
            updatedAt: try c.decode(Timestamp.self, forKey: .updatedAt),
            startedAt: try c.decodeIfPresent(Timestamp.self, forKey: .startedAt),
            finishedAt: try c.decodeIfPresent(Timestamp.self, forKey: .finishedAt),
            workerID: try c.decodeIfPresent(String.self, forKey: .workerID),
            leaseExpiresAt: try c.decodeIfPresent(Timestamp.self, forKey: .leaseExpiresAt),
            result: try c.decodeIfPresent(RawJSON.self, forKey: .result).flatMap { $0.isNull ? nil : $0 },
            error: try c.decodeIfPresent(String.self, forKey: .error),
            errors: try c.decodeIfPresent([TaskErrorEntry].self, forKey: .errors) ?? []
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(queue, forKey: .queue)
        try c.encode(type, forKey: .type)
        try c.encode(runID, forKey: .runID)
        try c.encode(priority, forKey: .priority)
        try c.encode(metadata, forKey: .metadata)
        try c.encode(payload, forKey: .payload)
        try c.encode(status, forKey: .status)
        try c.encode(attempts, forKey: .attempts)
        try c.encode(maxRetries, forKey: .maxRetries)
        try c.encode(timeoutMS, forKey: .timeoutMS)
        try c.encode(lockKey, forKey: .lockKey)
        try c.encode(notBefore, forKey: .notBefore)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(finishedAt, forKey: .finishedAt)
        try c.encode(workerID, forKey: .workerID)
        try c.encode(leaseExpiresAt, forKey: .leaseExpiresAt)
        try c.encode(result, forKey: .result)
        try c.encode(error, forKey: .error)
        try c.encode(errors, forKey: .errors)
    }
}
