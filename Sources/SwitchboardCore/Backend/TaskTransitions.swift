/// A task's life: every method is one atomic transition, and none leaves a window in which a
/// crash strands a task. Essential: every backend has these.
public protocol TaskTransitions: Sendable {
    /// Stores the tasks all together or not at all. A task whose id, or whose idempotency key,
    /// is already known is not stored again: its outcome carries the existing task, `created` false.
    func enqueue(_ tasks: [NewTask], now: Timestamp) async throws -> [EnqueueOutcome]

    /// Leases up to `maxTasks` ready tasks, taking from `queues` in the order given: strict
    /// priority (higher first), FIFO within a priority. Paused queues are skipped. Due
    /// scheduled/retrying tasks of those queues are made ready first. A task with a `lockKey`
    /// is not leased while another task with the same key runs; it keeps its place until then.
    /// Each lease starts an attempt.
    func lease(queues: [String], maxTasks: Int, workerID: String, terms: LeaseTerms, now: Timestamp) async throws -> [TaskLease]

    /// Moves the lease's expiry to `now` plus the extension (`terms` as for a lease).
    /// Stale lease: `conflict`; unknown: `notFound`.
    func heartbeat(leaseID: String, extension terms: LeaseTerms, now: Timestamp) async throws -> HeartbeatStatus

    /// Finishes leased tasks with their results, each on its own: one answer per completion, in
    /// order (a stale lease fails that one only). Throws only when the backend could not be asked
    /// at all, and then none was applied. The one completion call: the engine groups single
    /// completions into batches, so a backend that can apply many in one step does so here.
    func complete(batch: [LeaseCompletion], now: Timestamp) async throws -> [Result<TaskRecord, any Error>]

    /// Records a failed attempt and applies `decide` to the task (with its attempts counted):
    /// `retrying` until the given time, or `dead`. A task asked to cancel becomes `cancelled`.
    func fail(
        leaseID: String, message: String, now: Timestamp,
        decide: @Sendable (TaskRecord) -> FailureDecision
    ) async throws -> TaskRecord

    /// Gives the task back, ready, in its old place, without using up the attempt, and counts
    /// the release. A release that makes the count pass `maxReleases` is a failed attempt
    /// instead (its error says so), with `decide`'s verdict as for `fail`. A task asked to cancel
    /// becomes `cancelled`.
    func release(
        leaseID: String, now: Timestamp, maxReleases: Int, decide: @Sendable (TaskRecord) -> FailureDecision
    ) async throws -> TaskRecord

    /// Cancels a scheduled, pending or retrying task; asks a running one to cancel (seen at
    /// its next heartbeat). Cancelling a cancelled task returns it; a completed or dead one: `conflict`.
    func cancel(id: String, now: Timestamp) async throws -> TaskRecord
}

/// The error a release past the limit records.
public func tooManyReleasesMessage(_ maxReleases: Int) -> String {
    "released more than \(maxReleases) times without finishing (a worker stopped while it ran, every time)"
}
