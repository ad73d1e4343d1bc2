import SwitchboardJSON

/// A task the engine has validated and filled in, ready to be stored as it is.
public struct NewTask: Sendable, Hashable {
    /// Status is `pending`, or `scheduled` with `notBefore` as its due time.
    public var record: TaskRecord
    public var idempotencyKey: String?
    /// Until when `idempotencyKey` keeps returning this task.
    public var idempotencyExpiresAt: Timestamp?
    /// The engine made the id up (a UUIDv7 with 74 random bits), so no stored task has it and a
    /// backend may skip looking (the client did not choose it).
    public var idIsFresh: Bool

    public init(record: TaskRecord, idempotencyKey: String? = nil, idempotencyExpiresAt: Timestamp? = nil, idIsFresh: Bool = false) {
        self.record = record
        self.idempotencyKey = idempotencyKey
        self.idempotencyExpiresAt = idempotencyExpiresAt
        self.idIsFresh = idIsFresh
    }
}

/// The task an enqueue stored, or the one it found under the same id or idempotency key.
public struct EnqueueOutcome: Sendable, Hashable {
    public var task: TaskRecord
    public var created: Bool

    public init(task: TaskRecord, created: Bool) {
        self.task = task
        self.created = created
    }
}

/// How long a lease lasts: a fixed duration when the leaser asks for one, else the task's own
/// timeout plus a grace period (so a task that times out is failed by its worker, not reaped).
public struct LeaseTerms: Sendable, Hashable {
    public var duration: Duration?
    public var grace: Duration

    public init(duration: Duration? = nil, grace: Duration) {
        self.duration = duration
        self.grace = grace
    }

    public func duration(for task: TaskRecord) -> Duration {
        duration ?? .milliseconds(task.timeoutMS) + grace
    }
}

/// A leased task and the receipt that proves the lease.
public struct TaskLease: Sendable, Hashable {
    /// Unguessable; every complete/fail/heartbeat/release must carry it.
    public var leaseID: String
    public var expiresAt: Timestamp
    public var task: TaskRecord
    /// When the task last became ready (for the wait-time metric).
    public var readySince: Timestamp
    /// For a task with a `lockKey`: a number that strictly increases per key over every lease of
    /// a task with that key, so that a resource the key guards can refuse the write of a holder
    /// whose lease has run out (it has an older token: `FencingGuard`). Nil without a key.
    public var fencingToken: UInt64?

    public init(leaseID: String, expiresAt: Timestamp, task: TaskRecord, readySince: Timestamp, fencingToken: UInt64? = nil) {
        self.leaseID = leaseID
        self.expiresAt = expiresAt
        self.task = task
        self.readySince = readySince
        self.fencingToken = fencingToken
    }
}

/// One completion of a batch: the lease it ends and the task's result.
public struct LeaseCompletion: Sendable, Hashable {
    public var leaseID: String
    public var result: RawJSON?

    public init(leaseID: String, result: RawJSON?) {
        self.leaseID = leaseID
        self.result = result
    }
}

public struct HeartbeatStatus: Sendable, Hashable {
    public var expiresAt: Timestamp
    /// Someone asked to cancel the task: the worker should stop its handler.
    public var cancelRequested: Bool

    public init(expiresAt: Timestamp, cancelRequested: Bool) {
        self.expiresAt = expiresAt
        self.cancelRequested = cancelRequested
    }
}

/// What becomes of a failed attempt; decided by the engine's retry policy, applied by a backend.
public enum FailureDecision: Sendable, Hashable {
    case retry(at: Timestamp)
    case bury
}

/// Filters for listing tasks; nil (or empty) matches anything.
public struct TaskFilter: Sendable, Hashable {
    public var queue: String?
    public var status: TaskStatus?
    public var type: String?
    public var runID: String?
    /// The payload's `tool_name` (a tool call's tool).
    public var toolName: String?
    /// Metadata entries the task must all have, with these values.
    public var metadata: [String: String]

    public init(
        queue: String? = nil, status: TaskStatus? = nil, type: String? = nil, runID: String? = nil, toolName: String? = nil,
        metadata: [String: String] = [:]
    ) {
        self.queue = queue
        self.status = status
        self.type = type
        self.runID = runID
        self.toolName = toolName
        self.metadata = metadata
    }

    public func matches(_ task: TaskRecord) -> Bool {
        (queue == nil || queue == task.queue) && (status == nil || status == task.status)
            && (type == nil || type == task.type) && (runID == nil || runID == task.runID)
            && metadata.allSatisfy { task.metadata[$0.key] == $0.value }
            && (toolName == nil || task.toolName == toolName)
    }
}

extension TaskRecord {
    /// The payload's `tool_name`, when the payload is an object that has one as a string.
    public var toolName: String? {
        guard let reader = try? JSONObjectReader(payload.bytes) else { return nil }
        return try? reader.string("tool_name")
    }
}

public struct PageRequest: Sendable, Hashable {
    public static let maxLimit = 1000
    public var limit: Int
    /// Opaque: exactly what the previous page returned as `nextCursor`.
    public var cursor: String?

    public init(limit: Int = 100, cursor: String? = nil) {
        self.limit = limit
        self.cursor = cursor
    }
}

public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    /// Nil on the last page.
    public var nextCursor: String?

    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

extension Page: Equatable where Item: Equatable {}

public struct QueueInfo: Sendable, Hashable {
    public var name: String
    public var paused: Bool
    /// Tasks per state; every state is present, zero included.
    public var depth: [TaskStatus: Int]
    /// Since when the longest-waiting pending task has been ready (nil: none pending): the
    /// queue's latency, as asynq and Sidekiq show it.
    public var oldestPendingSince: Timestamp?

    public init(name: String, paused: Bool, depth: [TaskStatus: Int], oldestPendingSince: Timestamp? = nil) {
        self.name = name
        self.paused = paused
        self.depth = depth
        self.oldestPendingSince = oldestPendingSince
    }
}
