/// Reading tasks and queues without changing them. Essential: the API and the engine's
/// admission control read through these.
public protocol TaskQueries: Sendable {
    func task(id: String) async throws -> TaskRecord?

    /// Tasks in creation order (dead tasks, with `status: .dead`, in burial order), paged by an
    /// opaque cursor: no gaps and no repeats while other tasks are enqueued.
    func list(_ filter: TaskFilter, page: PageRequest) async throws -> Page<TaskRecord>

    /// Every queue that has held a task, with its depth per state.
    func queues() async throws -> [QueueInfo]
}
