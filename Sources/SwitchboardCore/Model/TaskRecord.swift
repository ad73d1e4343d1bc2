import SwitchboardJSON

/// One failed attempt, kept in the task's error history.
public struct TaskErrorEntry: Sendable, Hashable {
    public var attempt: Int
    /// When the attempt failed.
    public var at: Timestamp
    public var message: String
    public var workerID: String?
    /// When the attempt started (its lease); nil in entries recorded before it was kept.
    public var startedAt: Timestamp?

    public init(attempt: Int, at: Timestamp, message: String, workerID: String?, startedAt: Timestamp? = nil) {
        self.attempt = attempt
        self.at = at
        self.message = message
        self.workerID = workerID
        self.startedAt = startedAt
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
    /// Times the task was given back unfinished (a worker drained it); past the engine's
    /// `maxReleases` a release counts as a failed attempt, so a task released on every deploy
    /// still ends (Sidekiq #4635).
    public var releases: Int
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
        metadata: [String: String] = [:], payload: RawJSON, status: TaskStatus, attempts: Int = 0, releases: Int = 0,
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
        self.releases = releases
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
