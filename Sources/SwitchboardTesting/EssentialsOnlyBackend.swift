import SwitchboardCore

/// A backend with the essential roles only (a memory backend behind it): what the engine, the
/// server and the conformance suite do for a backend that leaves every optional ability out.
public final class EssentialsOnlyBackend: TaskBackend {
    private let store = MemoryTaskBackend()

    public init() {}

    public func enqueue(_ tasks: [NewTask], now: Timestamp) async throws -> [EnqueueOutcome] {
        store.enqueue(tasks, now: now)
    }

    public func lease(queues: [String], maxTasks: Int, workerID: String, terms: LeaseTerms, now: Timestamp) async throws -> [TaskLease] {
        store.lease(queues: queues, maxTasks: maxTasks, workerID: workerID, terms: terms, now: now)
    }

    public func heartbeat(leaseID: String, extension terms: LeaseTerms, now: Timestamp) async throws -> HeartbeatStatus {
        try store.heartbeat(leaseID: leaseID, extension: terms, now: now)
    }

    public func complete(batch: [LeaseCompletion], now: Timestamp) async throws -> [Result<TaskRecord, any Error>] {
        store.complete(batch: batch, now: now)
    }

    public func fail(
        leaseID: String, message: String, now: Timestamp, decide: @Sendable (TaskRecord) -> FailureDecision
    ) async throws -> TaskRecord {
        try store.fail(leaseID: leaseID, message: message, now: now, decide: decide)
    }

    public func release(
        leaseID: String, now: Timestamp, maxReleases: Int, decide: @Sendable (TaskRecord) -> FailureDecision
    ) async throws -> TaskRecord {
        try store.release(leaseID: leaseID, now: now, maxReleases: maxReleases, decide: decide)
    }

    public func cancel(id: String, now: Timestamp) async throws -> TaskRecord {
        try store.cancel(id: id, now: now)
    }

    public func task(id: String) async throws -> TaskRecord? {
        store.task(id: id)
    }

    public func list(_ filter: TaskFilter, page: PageRequest) async throws -> Page<TaskRecord> {
        try store.list(filter, page: page)
    }

    public func queues() async throws -> [QueueInfo] {
        store.queues()
    }

    public func promoteDue(now: Timestamp) async throws -> Set<String> {
        store.promoteDue(now: now)
    }

    public func reapExpiredLeases(
        now: Timestamp, limit: Int, decide: @Sendable (TaskRecord) -> FailureDecision
    ) async throws -> [TaskRecord] {
        store.reapExpiredLeases(now: now, limit: limit, decide: decide)
    }

    public func nextDeadline(queues: [String]?) async throws -> Timestamp? {
        store.nextDeadline(queues: queues)
    }

    public func ping() async throws {}
}
