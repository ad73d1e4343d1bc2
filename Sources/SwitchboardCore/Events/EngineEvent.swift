/// Something that happened on this server, for the operator's live view (`GET /v1/events`):
/// a task changed state, a lease expired, a lock was granted or released, a queue paused.
public struct EngineEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A task was stored (`pending` or `scheduled`).
        case taskCreated = "task.created"
        /// A task changed: leased, completed, failed, released, cancelled, requeued.
        case taskUpdated = "task.updated"
        /// A worker stopped heartbeating; its task was failed as an attempt.
        case leaseExpired = "lease.expired"
        /// A dead task was deleted.
        case taskDeleted = "task.deleted"
        /// Dead tasks were requeued or purged by a filter (`count` of them).
        case deadRequeued = "dlq.requeued"
        case deadPurged = "dlq.purged"
        /// Scheduled or retrying tasks of `queue` came due.
        case queueReady = "queue.ready"
        case queuePaused = "queue.paused"
        case queueResumed = "queue.resumed"
        case lockAcquired = "lock.acquired"
        case lockReleased = "lock.released"
        /// The journal's own marker where recording started again after nobody read for a while;
        /// never sent (a reader from before it gets `reset` instead).
        case gap
    }

    /// A task as an event carries it: what a row of the page shows, not its payload or result.
    public struct TaskChange: Sendable, Hashable {
        public var id: String
        public var queue: String
        public var type: String
        public var status: TaskStatus
        public var runID: String?
        public var attempts: Int
        public var workerID: String?
        public var error: String?
        public var updatedAt: Timestamp

        public init(_ task: TaskRecord) {
            id = task.id
            queue = task.queue
            type = task.type
            status = task.status
            runID = task.runID
            attempts = task.attempts
            workerID = task.workerID
            error = task.error
            updatedAt = task.updatedAt
        }
    }

    public var kind: Kind
    public var at: Timestamp
    public var task: TaskChange?
    /// The queue it concerns (a task's, or the queue paused); nil for locks and unfiltered bulk actions.
    public var queue: String?
    public var count: Int?
    public var lock: LockLease?

    public init(kind: Kind, at: Timestamp, task: TaskChange? = nil, queue: String? = nil, count: Int? = nil, lock: LockLease? = nil) {
        self.kind = kind
        self.at = at
        self.task = task
        self.queue = queue ?? task?.queue
        self.count = count
        self.lock = lock
    }

    public static func task(_ kind: Kind, _ task: TaskRecord, at: Timestamp) -> EngineEvent {
        EngineEvent(kind: kind, at: at, task: TaskChange(task))
    }
}
