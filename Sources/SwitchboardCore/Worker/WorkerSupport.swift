import Synchronization

/// A one-shot event: once fired, every current and future `wait` returns.
final class StopSignal: Sendable {
    private struct State {
        var fired = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    var isFired: Bool { state.withLock { $0.fired } }

    func fire() {
        let waiters = state.withLock { s in
            s.fired = true
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when fired, or when the calling task is cancelled.
    func wait() async {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // A cancellation that came before this registration already ran its handler,
                // which found nothing to resume: check for it under the same lock.
                let now = state.withLock { s in
                    if s.fired || Task.isCancelled { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// Free execution slots; the lease loop waits here for one to come free.
final class Slots: Sendable {
    private struct State {
        var free: Int
        var waiter: CheckedContinuation<Int?, Never>?
        var stopped = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        state = Mutex(State(free: capacity))
    }

    var busy: Int { state.withLock { capacity - $0.free } }

    var free: Int { state.withLock { $0.free } }

    /// The number of free slots once there is at least one; nil once stopped.
    func waitForFree() async -> Int? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Int?, Never>) in
            let answer: Int?? = state.withLock { s in
                if s.stopped { return .some(nil) }
                if s.free > 0 { return .some(s.free) }
                s.waiter = continuation
                return .none
            }
            if let answer { continuation.resume(returning: answer) }
        }
    }

    func take(_ count: Int) {
        state.withLock { $0.free -= count }
    }

    func give() {
        let (waiter, value, idle) = state.withLock { s in
            s.free += 1
            let waiter = s.waiter
            s.waiter = nil
            var idle: [CheckedContinuation<Void, Never>] = []
            if s.free == capacity {
                idle = s.idleWaiters
                s.idleWaiters = []
            }
            return (waiter, s.stopped ? nil : s.free, idle)
        }
        waiter?.resume(returning: value)
        for continuation in idle { continuation.resume() }
    }

    func stop() {
        let waiter = state.withLock { s in
            s.stopped = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// Returns once every slot is free, or when the calling task is cancelled.
    func waitUntilIdle() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let idle = state.withLock { s in
                    if s.free == capacity || Task.isCancelled { return true }
                    s.idleWaiters.append(continuation)
                    return false
                }
                if idle { continuation.resume() }
            }
        } onCancel: {
            let waiters = state.withLock { s in
                defer { s.idleWaiters = [] }
                return s.idleWaiters
            }
            for continuation in waiters { continuation.resume() }
        }
    }
}

/// Why a running handler is being stopped before it finished.
enum Interruption: Sendable, Equatable {
    case timedOut(Duration)
    case cancelRequested
    case leaseLost
    case draining
}

/// Lets the worker interrupt one execution from outside (the supervisor's timeout and
/// heartbeat answers, the drain deadline) by cancelling the task that runs its handler.
///
/// The handler runs inline in its execution's own task, with no watcher tasks or timer beside
/// it (those cost more than a no-op handler). Cancelling that task from outside needs its
/// handle: `UnsafeCurrentTask` is valid only while the task lives, so it is kept only while
/// the handler runs and is used only under the same lock that forgets it when the handler ends.
final class ExecutionControl: Sendable {
    private struct State: @unchecked Sendable {
        var reason: Interruption?
        var task: UnsafeCurrentTask?
        var ended = false
    }

    private let state = Mutex(State())

    /// Why the execution was interrupted, if it was.
    var reason: Interruption? { state.withLock { $0.reason } }

    /// Runs `body` (the handler) so that `interrupt` cancels it; returns its result and the
    /// interruption, if one came before it ended (one that comes after changes nothing).
    func run<T>(_ body: () async -> T) async -> (result: T, interruption: Interruption?) {
        withUnsafeCurrentTask { task in
            state.withLock { s in
                s.task = task
                if s.reason != nil { task?.cancel() }
            }
        }
        let result = await body()
        let interruption = state.withLock { s in
            s.task = nil
            s.ended = true
            return s.reason
        }
        return (result, interruption)
    }

    /// Records the first reason and cancels the handler's task, while it runs.
    func interrupt(_ reason: Interruption) {
        state.withLock { s in
            guard s.reason == nil, !s.ended else { return }
            s.reason = reason
            s.task?.cancel()
        }
    }
}

/// The executions a worker is running, as its supervisor loop sees them: what heartbeats are
/// due, which deadlines passed. The supervisor sleeps until its next heartbeat or the earliest
/// deadline; an execution whose deadline comes sooner than that wakes it (so the common case,
/// tasks that all get the same timeout, arms no timer per task).
final class RunningExecutions: Sendable {
    struct Execution: Sendable {
        /// Given by `add`: a number is cheaper to hash than the lease id.
        var id = 0
        var leaseID: String
        var control: ExecutionControl
        var deadline: Timestamp
        var timeout: Duration
        var heartbeatEvery: Duration
        var lastHeartbeat: Timestamp
        /// Reported overdue once: a handler that takes its time to stop is not reported again.
        var overdue = false
    }

    private struct State {
        var executions: [Int: Execution] = [:]
        var nextID = 0
        /// When the supervisor wakes next (nil: it is not asleep).
        var wakeAt: Timestamp?
        var earlierDeadline = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Registers a running execution; returns its id.
    func add(_ execution: Execution) -> Int {
        var execution = execution
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.nextID += 1
            execution.id = s.nextID
            s.executions[execution.id] = execution
            guard let wakeAt = s.wakeAt, execution.deadline < wakeAt else { return nil }
            s.wakeAt = nil
            s.earlierDeadline = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
        return execution.id
    }

    func remove(_ id: Int) {
        _ = state.withLock { $0.executions.removeValue(forKey: id) }
    }

    var all: [Execution] { state.withLock { Array($0.executions.values) } }

    func dueForHeartbeat(at now: Timestamp) -> [Execution] {
        state.withLock { $0.executions.values.filter { now >= $0.lastHeartbeat + $0.heartbeatEvery } }
    }

    func heartbeatSent(_ id: Int, at now: Timestamp) {
        state.withLock { $0.executions[id]?.lastHeartbeat = now }
    }

    /// The executions that passed their deadline since the last call, as of `now`, and when the
    /// supervisor must wake next: `nextBeat`, or the earliest deadline still ahead if sooner.
    func overdue(at now: Timestamp, nextBeat: Timestamp) -> (overdue: [Execution], wakeAt: Timestamp) {
        state.withLock { s in
            var overdue: [Execution] = []
            var wakeAt = nextBeat
            for (id, execution) in s.executions where !execution.overdue {
                if execution.deadline <= now {
                    overdue.append(execution)
                    s.executions[id]?.overdue = true
                } else if execution.deadline < wakeAt {
                    wakeAt = execution.deadline
                }
            }
            s.wakeAt = wakeAt
            s.earlierDeadline = false
            return (overdue, wakeAt)
        }
    }

    /// Returns when an execution with an earlier deadline than the supervisor's wake-up time
    /// starts, or when the calling task is cancelled.
    func waitForEarlierDeadline() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s in
                    if s.earlierDeadline || Task.isCancelled { return true }
                    s.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { s in
                defer { s.waiter = nil }
                return s.waiter
            }?.resume()
        }
    }
}

/// Outcomes waiting to be reported, taken in batches by the worker's reporting loop: a handler
/// that finished hands its outcome over and frees its slot at once, and outcomes that pile up
/// while one report is on its way go out together in the next.
///
/// While `carrying` is on (the lease loop is about to call), carriable items (completions) are
/// held for the lease loop to take with `takeHeld` and send along with its lease call, instead
/// of waking the reporting loop; turning it off hands whatever is held to the reporting loop.
final class OutcomeQueue<Item: Sendable>: Sendable {
    private struct State {
        var items: [Item] = []
        var held: [Item] = []
        var carrying = false
        var closed = false
        var waiter: CheckedContinuation<[Item]?, Never>?

        /// The waiter and what it gets, when there is both.
        mutating func wake() -> (CheckedContinuation<[Item]?, Never>, [Item])? {
            guard let waiter, !items.isEmpty else { return nil }
            self.waiter = nil
            defer { items = [] }
            return (waiter, items)
        }
    }

    private let state = Mutex(State())

    func add(_ item: Item, carriable: Bool = false) {
        let wake = state.withLock { s -> (CheckedContinuation<[Item]?, Never>, [Item])? in
            if carriable, s.carrying {
                s.held.append(item)
                return nil
            }
            s.items.append(item)
            return s.wake()
        }
        wake.map { $0.0.resume(returning: $0.1) }
    }

    /// Holds carriable items from now on (on), or hands the held ones to the reporting loop (off).
    func setCarrying(_ on: Bool) {
        let wake = state.withLock { s -> (CheckedContinuation<[Item]?, Never>, [Item])? in
            s.carrying = on && !s.closed
            guard !s.carrying, !s.held.isEmpty else { return nil }
            s.items += s.held
            s.held = []
            return s.wake()
        }
        wake.map { $0.0.resume(returning: $0.1) }
    }

    /// Up to `limit` held items, oldest first.
    func takeHeld(limit: Int) -> [Item] {
        state.withLock { s in
            let taken = Array(s.held.prefix(limit))
            s.held.removeFirst(taken.count)
            return taken
        }
    }

    /// No more items will come; `next` returns nil once the queued ones (held ones included)
    /// are taken.
    func close() {
        let (waiter, items) = state.withLock { s -> (CheckedContinuation<[Item]?, Never>?, [Item]) in
            s.closed = true
            s.carrying = false
            s.items += s.held
            s.held = []
            guard let waiter = s.waiter else { return (nil, []) }
            s.waiter = nil
            defer { s.items = [] }
            return (waiter, s.items)
        }
        waiter?.resume(returning: items.isEmpty ? nil : items)
    }

    /// Everything queued, waiting for at least one item; nil once closed and empty.
    func next() async -> [Item]? {
        await withCheckedContinuation { (continuation: CheckedContinuation<[Item]?, Never>) in
            let answer: [Item]?? = state.withLock { s in
                if !s.items.isEmpty {
                    defer { s.items = [] }
                    return .some(s.items)
                }
                if s.closed { return .some(nil) }
                s.waiter = continuation
                return .none
            }
            if let answer { continuation.resume(returning: answer) }
        }
    }
}

/// What a worker has done so far.
public struct WorkerMetrics: Sendable, Hashable {
    public var tasksStarted = 0
    public var tasksCompleted = 0
    /// Attempts that failed (handler error, timeout, cancel).
    public var tasksFailed = 0
    /// Failed attempts that will be tried again.
    public var tasksRetried = 0
    /// Tasks given back unfinished at shutdown (no attempt used).
    public var tasksReleased = 0
    /// Handler time over every finished attempt.
    public var totalDuration: Duration = .zero

    public var averageTaskDuration: Duration {
        let finished = tasksCompleted + tasksFailed
        return finished == 0 ? .zero : totalDuration / finished
    }
}
