/// A task as the memory backend holds it: its record and the bookkeeping its indexes are rebuilt
/// from (places in the ready, creation and burial orders, its lease, a pending cancel request).
public struct StoredMemoryTask: Sendable, Hashable {
    public var record: TaskRecord
    public var createdSequence: UInt64
    public var readySequence: UInt64
    public var readySince: Timestamp
    public var dueAt: Timestamp?
    public var leaseID: String?
    public var cancelRequested: Bool
    public var deadSequence: UInt64

    public init(
        record: TaskRecord, createdSequence: UInt64, readySequence: UInt64, readySince: Timestamp, dueAt: Timestamp? = nil,
        leaseID: String? = nil, cancelRequested: Bool = false, deadSequence: UInt64 = 0
    ) {
        self.record = record
        self.createdSequence = createdSequence
        self.readySequence = readySequence
        self.readySince = readySince
        self.dueAt = dueAt
        self.leaseID = leaseID
        self.cancelRequested = cancelRequested
        self.deadSequence = deadSequence
    }
}

/// An idempotency key's task, until when the key holds.
public struct IdempotencyEntry: Sendable, Hashable {
    public var taskID: String
    public var expiresAt: Timestamp

    public init(taskID: String, expiresAt: Timestamp) {
        self.taskID = taskID
        self.expiresAt = expiresAt
    }
}

/// What one transition of the memory backend changed, as a store that keeps the state across
/// restarts needs it: whole tasks (the latest of each), removals, queues, idempotency keys and
/// the counters.
public struct MemoryStateChanges: Sendable {
    public var tasks: [StoredMemoryTask] = []
    /// Tasks created by this transition, by creation sequence (a store may keep what never
    /// changes after creation apart, written once).
    public var createdTasks: [UInt64] = []
    /// Tasks dropped, by their creation sequence (unique, and a store's natural key).
    public var removedTasks: [UInt64] = []
    /// Queues created or paused/resumed, with their paused flag now.
    public var queues: [String: Bool] = [:]
    /// Keys added (with their entry) or forgotten (nil).
    public var idempotencyKeys: [String: IdempotencyEntry?] = [:]
    public var nextSequence: UInt64
    public var nextFencingToken: UInt64

    public init(nextSequence: UInt64, nextFencingToken: UInt64) {
        self.nextSequence = nextSequence
        self.nextFencingToken = nextFencingToken
    }
}

/// Everything a memory backend's state is rebuilt from (`MemoryTaskBackend.restore`).
public struct MemoryStateImage: Sendable {
    public var tasks: [StoredMemoryTask]
    public var queues: [String: Bool]
    public var idempotencyKeys: [String: IdempotencyEntry]
    public var nextSequence: UInt64
    public var nextFencingToken: UInt64

    public init(
        tasks: [StoredMemoryTask] = [], queues: [String: Bool] = [:], idempotencyKeys: [String: IdempotencyEntry] = [:],
        nextSequence: UInt64 = 1, nextFencingToken: UInt64 = 1
    ) {
        self.tasks = tasks
        self.queues = queues
        self.idempotencyKeys = idempotencyKeys
        self.nextSequence = nextSequence
        self.nextFencingToken = nextFencingToken
    }
}

/// Where a memory backend hands what each transition changed, for a durable store behind it (the
/// SQLite backend). Called under the backend's lock, in transition order, so it must not block:
/// it queues the changes for writing, and the caller of the transition waits for their commit.
public protocol MemoryStateJournal: Sendable {
    func append(_ changes: MemoryStateChanges)
}
