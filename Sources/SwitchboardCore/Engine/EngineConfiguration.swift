import CoreMetrics
import Metrics

/// Defaults and limits of the engine. Every value here is the engine's policy; backends see
/// only the decisions.
public struct EngineConfiguration: Sendable {
    public var limits = TaskLimits()
    /// Bounds on distinct queue names and task types, and on queue depth.
    public var admission = AdmissionLimits()
    public var defaultQueue = "default"
    public var defaultMaxRetries = 3
    public var retry = RetryPolicy()
    public var defaultTimeout: Duration = .seconds(30)
    /// A default lease lasts the task's timeout plus this, so the worker's own timeout fires first.
    public var leaseGrace: Duration = .seconds(5)
    /// Releases a task may have (a worker draining it unfinished) before a release counts as a
    /// failed attempt: a task longer than the gap between deploys still ends, in the DLQ at worst.
    public var maxReleases = 10
    /// Set, the engine keeps its time on a shared backend's clock (`ClockReference`), measured
    /// on every maintenance pass, and reaps expired leases only while its own clock is within
    /// this of the backend's; beyond it, it leaves reaping to servers whose clocks agree. Nil:
    /// neither (an engine on a test clock); `serve` sets 2 s.
    public var maxClockSkew: Duration?
    /// A clock measurement whose round trip to the backend took longer is ignored: the engine's
    /// time could be off by half of it.
    public var maxClockRoundTrip: Duration = .milliseconds(200)
    public var minLeaseDuration: Duration = .milliseconds(100)
    public var maxLeaseDuration: Duration = .seconds(86_400)
    /// The longest a lease request may wait for work (long-poll).
    public var maxLeaseWait: Duration = .seconds(60)
    public var maxTasksPerLease = 1000
    /// Completed and cancelled tasks stay this long, and at most `maxFinishedTasks` of them.
    public var finishedRetention: Duration = .seconds(3600)
    public var maxFinishedTasks = 100_000
    public var idempotencyTTL: Duration = .seconds(86_400)
    /// Upper bound between maintenance passes (promotion, reaping, retention).
    public var maintenanceInterval: Duration = .seconds(1)
    public var reapBatchSize = 1000
    /// With a shared backend (Redis) whose ready feed is down, waiting leasers look again this
    /// often instead of sleeping until their deadline; while the feed is up nothing polls.
    public var readyPollFallback: Duration = .seconds(1)
    /// Events kept for `GET /v1/events` readers that fall behind or reconnect (0: no events).
    public var eventBufferSize = 10_000

    public init() {}
}

/// Optional lease parameters of a `lease` call.
public struct LeaseRequest: Sendable, Hashable {
    public var workerID: String
    public var queues: [String]
    public var maxTasks: Int
    /// Nil: each task's timeout plus the grace period.
    public var leaseDuration: Duration?
    /// How long to wait for work when none is ready (long-poll); zero returns at once.
    public var wait: Duration
    /// What the worker tells about itself, for `GET /v1/workers`.
    public var host: String?
    public var slots: Int?
    /// The tools the worker runs, when they changed since it last said (nil: as before).
    public var tools: [ToolDescriptor]?

    public init(
        workerID: String, queues: [String] = ["default"], maxTasks: Int = 1, leaseDuration: Duration? = nil,
        wait: Duration = .zero, host: String? = nil, slots: Int? = nil, tools: [ToolDescriptor]? = nil
    ) {
        self.tools = tools
        self.workerID = workerID
        self.queues = queues
        self.maxTasks = maxTasks
        self.leaseDuration = leaseDuration
        self.wait = wait
        self.host = host
        self.slots = slots
    }
}

/// A worker's account of a failed attempt.
public struct TaskFailureReport: Sendable, Hashable {
    public var message: String
    /// False buries the task at once, whatever attempts remain.
    public var retryable: Bool
    /// The worker's own retry limit and base delay, when it has them; the engine applies them
    /// with the same policy as its defaults.
    public var maxRetries: Int?
    public var retryDelay: Duration?

    public init(message: String, retryable: Bool = true, maxRetries: Int? = nil, retryDelay: Duration? = nil) {
        self.message = message
        self.retryable = retryable
        self.maxRetries = maxRetries
        self.retryDelay = retryDelay
    }
}

/// A run's tasks and a count per state (`GET /v1/runs/{run_id}`).
public struct RunSummary: Sendable, Hashable {
    public var runID: String
    public var counts: [TaskStatus: Int]
    /// In creation order; at most `RunSummary.maxTasks` of them.
    public var tasks: [TaskRecord]

    public static let maxTasks = 1000

    public init(runID: String, counts: [TaskStatus: Int], tasks: [TaskRecord]) {
        self.runID = runID
        self.counts = counts
        self.tasks = tasks
    }
}

/// One run in the list of recent runs: its counts per state and its span.
public struct RunInfo: Sendable, Hashable {
    public var runID: String
    public var counts: [TaskStatus: Int]
    /// Its queues, sorted.
    public var queues: [String]
    /// When its first task was created, and when any of its tasks last changed.
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(runID: String, counts: [TaskStatus: Int], queues: [String], createdAt: Timestamp, updatedAt: Timestamp) {
        self.runID = runID
        self.counts = counts
        self.queues = queues
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
