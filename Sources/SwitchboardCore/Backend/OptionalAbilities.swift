// Abilities a backend may leave out. The engine finds them with `as?`; without one, the
// operations it serves answer `SwitchboardError.unsupported` (the server's 501) and nothing else
// changes — tasks still die into the dead-letter list, which `TaskQueries.list` reads.

/// Operators' actions on dead tasks.
public protocol DeadLetterAdministration: Sendable {
    /// Back to `pending` with attempts reset to 0. Not dead: `notFound`.
    func requeueDead(id: String, now: Timestamp) async throws -> TaskRecord
    /// Requeues every dead task that matches (queue and type are honoured); returns how many.
    func requeueDead(matching filter: TaskFilter, now: Timestamp) async throws -> Int
    /// Forgets one dead task. Not dead: `notFound`.
    func deleteDead(id: String) async throws
    /// Forgets every dead task that matches (queue and type are honoured); returns how many.
    func purgeDead(matching filter: TaskFilter) async throws -> Int
}

/// Stopping and resuming the leasing of a queue.
public protocol QueuePausing: Sendable {
    /// Pausing stops leasing from the queue (and leaves it out of `nextDeadline`); enqueues
    /// still land.
    func setPaused(_ paused: Bool, queue: String) async throws -> QueueInfo
}

/// Dropping finished tasks. A backend whose storage expires them itself (a stream's age limit)
/// leaves this out, and the engine's maintenance skips it.
public protocol FinishedTaskRetention: Sendable {
    /// Drops completed and cancelled tasks that finished before `finishedBefore`, and the oldest
    /// beyond `keepAtMost`; forgets idempotency keys past their expiry. Returns tasks dropped.
    func trim(finishedBefore: Timestamp, keepAtMost: Int, now: Timestamp) async throws -> Int
}

/// Agent runs, newest first, for the list of recent runs (`GET /v1/runs`).
public protocol RunListing: Sendable {
    /// Ids of runs that have tasks, the run whose newest task was created last first. A run that
    /// gains a task while someone pages moves to the front (and may be seen twice or not at all
    /// by that pager, as in any activity-ordered list).
    func runs(page: PageRequest) async throws -> Page<String>
}

/// A backend whose data lives in files of this host: their size, for `switchboard_storage_bytes`.
public protocol StorageSizeReporting: Sendable {
    /// Bytes on disk now.
    func storageBytes() -> Int64
}
