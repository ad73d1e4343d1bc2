/// The timed work the engine drives: what becomes due, what expires, when to look next.
/// Essential: without it retries never come back and a dead worker's tasks stay leased.
public protocol TaskMaintenance: Sendable {
    /// Makes due scheduled/retrying tasks ready; returns the queues that gained ready tasks.
    func promoteDue(now: Timestamp) async throws -> Set<String>

    /// Ends leases that expired by `now` (at most `limit`): each counts as a failed attempt and
    /// gets `decide`'s verdict. Returns the tasks as they are afterwards. Safe to run from many
    /// processes at once: a lease is reaped once.
    func reapExpiredLeases(now: Timestamp, limit: Int, decide: @Sendable (TaskRecord) -> FailureDecision) async throws -> [TaskRecord]

    /// The earliest time something becomes due in these queues, paused ones left out (all
    /// queues, and lease expiries too, when nil), so waiters sleep exactly until then. May be
    /// early, never late.
    func nextDeadline(queues: [String]?) async throws -> Timestamp?

    /// Throws when the backend cannot be reached (readiness).
    func ping() async throws
}
