import Synchronization

/// Wakes callers waiting for particular tasks to finish (an MCP call through the server waits
/// for its task's result): transitions that finish tasks say which, and only the watchers of
/// those are woken. With nobody watching it costs one atomic load per transition.
///
/// A watcher registers (`watch`) before it reads the task, so that a finish between its read and
/// its wait is not missed: it is remembered until the watcher `rearm`s for its next read.
final class FinishSignal: Sendable {
    struct Watched {
        var watchers: [String: Int] = [:]
        var fired: Set<String> = []
    }

    private let state = WaitableState<Watched, String, Void>(Watched())
    private let watching = Atomic<Int>(0)

    func watch(_ id: String) {
        watching.add(1, ordering: .relaxed)
        state.withLock { $0.watchers[id, default: 0] += 1 }
    }

    func unwatch(_ id: String) {
        state.withLock { s in
            s.watchers[id, default: 1] -= 1
            if s.watchers[id] == 0 {
                s.watchers[id] = nil
                s.fired.remove(id)
            }
        }
        watching.subtract(1, ordering: .relaxed)
    }

    /// Forgets an earlier finish of `id`, before the watcher reads the task again.
    func rearm(_ id: String) {
        state.withLock { _ = $0.fired.remove(id) }
    }

    func notify(_ tasks: some Collection<TaskRecord>) {
        guard watching.load(ordering: .relaxed) > 0 else { return }
        state.update { s, waiters in
            var any = false
            for task in tasks where task.status.isFinished && s.watchers[task.id] != nil {
                s.fired.insert(task.id)
                any = true
            }
            if any { waiters.resume { [fired = s.fired] id in fired.contains(id) ? () : nil } }
        }
    }

    /// Returns once `id` finished since it was watched or last rearmed, or when the calling task
    /// is cancelled.
    func wait(for id: String) async {
        await state.wait(for: id, cancelled: ()) { s in s.fired.contains(id) ? () : nil }
    }
}
