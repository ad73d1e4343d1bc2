import Synchronization
import SwitchboardCore

/// The embedded durable backend: the memory backend's state and indexes (heaps per queue, so
/// enqueue and lease stay O(log n) at any depth), with a SQLite file as the truth behind them.
///
/// Every transition runs as in memory — one lock hold, the engine's `decide` inside it — and
/// hands what it changed to a commit log; the caller is answered only once that change is
/// committed, and concurrent transitions share one commit (`SQLiteCommitLog`). At start the file
/// is read back whole and the indexes are rebuilt: leases held at a crash run out and are reaped
/// like any. A commit that fails (a full disk: `insufficientStorage`, the API's 507) changes
/// nothing: the state is rebuilt from the file, and reads go on.
public final class SQLiteTaskBackend: TaskBackend, DeadLetterAdministration, QueuePausing, FinishedTaskRetention, RunListing,
    DurabilityReporting, StorageSizeReporting
{
    private let memory: MemoryTaskBackend
    private let log: SQLiteCommitLog
    var commitLog: SQLiteCommitLog { log }
    let store: SQLiteStore
    private let checkpointer: Mutex<Task<Void, Never>?> = Mutex(nil)
    /// After a full disk, writes are refused at once for a moment instead of each rebuilding the
    /// state (`fullDiskPause`); then one is let through to find out whether there is room again.
    /// Until when, in nanoseconds after `opened`; 0: no pause. Read by every transition, so
    /// one atomic rather than a lock.
    private let refusingUntil = Atomic<Int64>(0)
    private let opened = ContinuousClock.now
    private static let fullDiskPause: Duration = .seconds(1)

    private var nanosecondsOpen: Int64 { Self.nanoseconds(ContinuousClock.now - opened) }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    /// Opens (or creates) the database and reads it back.
    public init(configuration: SQLiteConfiguration, errorHistoryLimit: Int = TaskLimits().maxErrorHistory) throws {
        let store = try SQLiteStore(configuration)
        self.store = store
        let log = SQLiteCommitLog(store: store)
        self.log = log
        let memory = MemoryTaskBackend(errorHistoryLimit: errorHistoryLimit, journal: log)
        self.memory = memory
        do {
            try memory.restore { try store.loadImage() }
        } catch {
            store.close()
            throw error
        }
        log.startWriter { failure in
            try memory.restore {
                log.discardOpen(failure: failure)
                return try store.loadImage()
            }
        }
        checkpointer.withLock { $0 = Task { await log.runCheckpoints() } }
    }

    /// Commits what is pending and closes the file (the lock file is let go).
    public func close() async {
        log.close()
        await log.writerFinished()
        await checkpointer.withLock { $0 }?.value
        store.close()
    }

    public var configuration: SQLiteConfiguration { store.configuration }

    /// Bytes the database takes on disk (file and write-ahead log).
    public func storageBytes() -> Int64 { store.sizeOnDisk() }

    /// A consistent copy of the database at `path`, taken while it serves.
    public func backup(to path: String) throws { try store.backup(to: path) }

    // MARK: Committing

    /// Runs `transition` and answers once its changes are in the file (when `changed` says it
    /// made any, and `answerBeforeCommit` does not let it go at once). A failed commit throws,
    /// and then nothing of it was kept.
    private func committed<T>(
        _ changed: (T) -> Bool = { _ in true }, answerBeforeCommit: (T, _ generation: UInt64) -> Bool = { _, _ in false },
        _ transition: () throws -> T
    ) async throws -> T {
        let generation = try log.admit()
        let refusing = refusingUntil.load(ordering: .acquiring)
        if refusing != 0, nanosecondsOpen < refusing {
            throw SwitchboardError.insufficientStorage(SQLiteStoreError.full(store.configuration.path).description)
        }
        let result = try transition()
        guard changed(result), !answerBeforeCommit(result, generation) else { return result }
        do {
            try await log.waitForCommit(since: generation)
        } catch {
            if error.kind == .insufficientStorage {
                refusingUntil.store(nanosecondsOpen + Self.nanoseconds(Self.fullDiskPause), ordering: .releasing)
            }
            throw error
        }
        // The probe after a full disk went through: there is room again.
        if refusing != 0 { refusingUntil.store(0, ordering: .releasing) }
        return result
    }

    // MARK: TaskTransitions

    public func enqueue(_ tasks: [NewTask], now: Timestamp) async throws -> [EnqueueOutcome] {
        try await committed({ $0.contains(where: \.created) }) { memory.enqueue(tasks, now: now) }
    }

    /// A lease is answered before its commit when no task in it holds a fencing token and every
    /// task in it was created in a committed batch: a worker then starts while the lease is
    /// written, instead of after (the leasing loop of a busy worker waited for one to two commits
    /// per call; BENCHMARKS.md "SQLite"). What it gives up, for those leases only: a crash, or a
    /// failed commit, in the instant before the lease's commit leaves the task queued, not running,
    /// so it may be leased again while the first worker still runs it — at-least-once delivery,
    /// as after any lost lease. A fenced lease (a lock key) is answered only once committed, so a
    /// fencing token is never handed out twice.
    public func lease(queues: [String], maxTasks: Int, workerID: String, terms: LeaseTerms, now: Timestamp) async throws -> [TaskLease] {
        var newestCreation: UInt64 = 0
        let log = log
        return try await committed(
            { !$0.isEmpty },
            answerBeforeCommit: { leases, generation in
                !leases.contains { $0.fencingToken != nil } && log.isSettled(createdThrough: newestCreation, since: generation)
            }
        ) {
            memory.lease(queues: queues, maxTasks: maxTasks, workerID: workerID, terms: terms, now: now, newestCreation: &newestCreation)
        }
    }

    public func heartbeat(leaseID: String, extension terms: LeaseTerms, now: Timestamp) async throws -> HeartbeatStatus {
        try await committed { try memory.heartbeat(leaseID: leaseID, extension: terms, now: now) }
    }

    public func complete(batch: [LeaseCompletion], now: Timestamp) async throws -> [Result<TaskRecord, any Error>] {
        try await committed({ $0.contains { if case .success = $0 { true } else { false } } }) {
            memory.complete(batch: batch, now: now)
        }
    }

    public func fail(
        leaseID: String, message: String, now: Timestamp, decide: @Sendable (TaskRecord) -> FailureDecision
    ) async throws -> TaskRecord {
        try await committed { try memory.fail(leaseID: leaseID, message: message, now: now, decide: decide) }
    }

    public func release(
        leaseID: String, now: Timestamp, maxReleases: Int, decide: @Sendable (TaskRecord) -> FailureDecision
    ) async throws -> TaskRecord {
        try await committed { try memory.release(leaseID: leaseID, now: now, maxReleases: maxReleases, decide: decide) }
    }

    public func cancel(id: String, now: Timestamp) async throws -> TaskRecord {
        try await committed { try memory.cancel(id: id, now: now) }
    }

    // MARK: TaskQueries (the state in memory answers)

    public func task(id: String) async throws -> TaskRecord? { memory.task(id: id) }

    public func list(_ filter: TaskFilter, page: PageRequest) async throws -> Page<TaskRecord> {
        try memory.list(filter, page: page)
    }

    public func queues() async throws -> [QueueInfo] { memory.queues() }

    public func runs(page: PageRequest) async throws -> Page<String> { try memory.runs(page: page) }

    // MARK: TaskMaintenance

    public func promoteDue(now: Timestamp) async throws -> Set<String> {
        try await committed({ !$0.isEmpty }) { memory.promoteDue(now: now) }
    }

    public func reapExpiredLeases(now: Timestamp, limit: Int, decide: @Sendable (TaskRecord) -> FailureDecision) async throws -> [TaskRecord] {
        try await committed({ !$0.isEmpty }) { memory.reapExpiredLeases(now: now, limit: limit, decide: decide) }
    }

    public func nextDeadline(queues: [String]?) async throws -> Timestamp? { memory.nextDeadline(queues: queues) }

    public func ping() async throws {
        if let refusal = log.refusal { throw refusal }
    }

    // MARK: Optional abilities

    public func requeueDead(id: String, now: Timestamp) async throws -> TaskRecord {
        try await committed { try memory.requeueDead(id: id, now: now) }
    }

    public func requeueDead(matching filter: TaskFilter, now: Timestamp) async throws -> Int {
        try await committed({ $0 > 0 }) { memory.requeueDead(matching: filter, now: now) }
    }

    public func deleteDead(id: String) async throws {
        try await committed { try memory.deleteDead(id: id) }
    }

    public func purgeDead(matching filter: TaskFilter) async throws -> Int {
        try await committed({ $0 > 0 }) { memory.purgeDead(matching: filter) }
    }

    public func setPaused(_ paused: Bool, queue: String) async throws -> QueueInfo {
        try await committed { memory.setPaused(paused, queue: queue) }
    }

    /// Retention, then free pages handed back when they have become a large share of the file.
    public func trim(finishedBefore: Timestamp, keepAtMost: Int, now: Timestamp) async throws -> Int {
        let dropped = try await committed { memory.trim(finishedBefore: finishedBefore, keepAtMost: keepAtMost, now: now) }
        if dropped > 0 { try await store.reclaimSpace() }
        return dropped
    }

    public func durabilityReport() async throws -> DurabilityReport {
        let configuration = store.configuration
        var warnings: [String] = []
        if configuration.synchronous == .normal {
            warnings.append(
                "synchronous NORMAL: acknowledged changes survive a crash of the process, not a power loss or an OS crash; use --sqlite-synchronous full for that")
        }
        return DurabilityReport(
            survivesRestart: true,
            settings: [
                "storage": "SQLite file \(configuration.path)", "journal_mode": "wal", "synchronous": configuration.synchronous.rawValue,
            ],
            warnings: warnings)
    }
}
