/// Storage for tasks: atomic state transitions and nothing else.
///
/// A backend owns no policy. It never decides whether a failure is retried, how long a backoff
/// is, or what the defaults are: the engine (`TaskEngine`) decides and passes the decision in,
/// either as a value or as a `decide` closure that the backend calls inside the transition so
/// that the read and the write stay one atomic step (one lock hold in memory, one script in Redis).
///
/// Every method is one transition; none leaves a window in which a crash strands a task.
/// Times come in as `now`, so backends never read a clock and tests control time exactly.
/// The conformance suite (`SwitchboardConformance`) states the contract as executable checks.
public protocol TaskBackend: Sendable {
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

    /// Finishes the leased task with its result.
    func complete(leaseID: String, result: RawJSON?, now: Timestamp) async throws -> TaskRecord

    /// Finishes many leased tasks, each on its own: one answer per completion, in order. Throws
    /// only when the backend could not be asked at all (then none was applied).
    func complete(batch: [LeaseCompletion], now: Timestamp) async throws -> [Result<TaskRecord, any Error>]

    /// Records a failed attempt and applies `decide` to the task (with its attempts counted):
    /// `retrying` until the given time, or `dead`. A task asked to cancel becomes `cancelled`.
    func fail(
        leaseID: String, message: String, now: Timestamp,
        decide: @Sendable (TaskRecord) -> FailureDecision
    ) async throws -> TaskRecord

    /// Gives the task back, ready, in its old place, without using up the attempt.
    func release(leaseID: String, now: Timestamp) async throws -> TaskRecord

    /// Cancels a scheduled, pending or retrying task; asks a running one to cancel (seen at
    /// its next heartbeat). Cancelling a cancelled task returns it; a completed or dead one: `conflict`.
    func cancel(id: String, now: Timestamp) async throws -> TaskRecord

    func task(id: String) async throws -> TaskRecord?

    /// Tasks in creation order (dead tasks, with `status: .dead`, in burial order), paged by an
    /// opaque cursor: no gaps and no repeats while other tasks are enqueued.
    func list(_ filter: TaskFilter, page: PageRequest) async throws -> Page<TaskRecord>

    /// Back to `pending` with attempts reset to 0. Not dead: `notFound`.
    func requeueDead(id: String, now: Timestamp) async throws -> TaskRecord
    /// Requeues every dead task that matches (queue and type are honoured); returns how many.
    func requeueDead(matching filter: TaskFilter, now: Timestamp) async throws -> Int
    func deleteDead(id: String) async throws
    func purgeDead(matching filter: TaskFilter) async throws -> Int

    func queues() async throws -> [QueueInfo]
    /// Pausing stops leasing from the queue; enqueues still land.
    func setPaused(_ paused: Bool, queue: String) async throws -> QueueInfo

    /// Ends leases that expired by `now` (at most `limit`): each counts as a failed attempt and
    /// gets `decide`'s verdict. Returns the tasks as they are afterwards. Safe to run from many
    /// processes at once: a lease is reaped once.
    func reapExpiredLeases(now: Timestamp, limit: Int, decide: @Sendable (TaskRecord) -> FailureDecision) async throws -> [TaskRecord]

    /// Makes due scheduled/retrying tasks ready; returns the queues that gained ready tasks.
    func promoteDue(now: Timestamp) async throws -> Set<String>

    /// The earliest time something becomes due in these queues, paused ones left out (all
    /// queues, and lease expiries too, when nil), so waiters sleep exactly until then. May be
    /// early, never late.
    func nextDeadline(queues: [String]?) async throws -> Timestamp?

    /// Drops completed and cancelled tasks that finished before `finishedBefore`, and the oldest
    /// beyond `keepAtMost`; forgets idempotency keys past their expiry. Returns tasks dropped.
    func trim(finishedBefore: Timestamp, keepAtMost: Int, now: Timestamp) async throws -> Int

    /// Throws when the backend cannot be reached (readiness).
    func ping() async throws
}

extension TaskBackend {
    /// One completion after another; backends that can apply a batch in one step do.
    public func complete(batch: [LeaseCompletion], now: Timestamp) async throws -> [Result<TaskRecord, any Error>] {
        var results: [Result<TaskRecord, any Error>] = []
        results.reserveCapacity(batch.count)
        for completion in batch {
            do {
                results.append(.success(try await complete(leaseID: completion.leaseID, result: completion.result, now: now)))
            } catch let error as SwitchboardError where error.kind == .unavailable {
                guard results.isEmpty else { results.append(.failure(error)); continue }
                throw error
            } catch {
                results.append(.failure(error))
            }
        }
        return results
    }
}
