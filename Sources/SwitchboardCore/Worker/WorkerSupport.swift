import Synchronization

// The worker's waiting places, each a small state on `WaitableState`.

/// Free execution slots; the lease loop waits here for one to come free, and the drain for all.
final class Slots: Sendable {
    private struct State {
        var free: Int
        var stopped = false
    }

    private enum Wait: Sendable { case free, idle }

    private enum Answer: Sendable {
        case free(Int)
        case stopped
        case idle
    }

    private let state: WaitableState<State, Wait, Answer>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        state = WaitableState(State(free: capacity))
    }

    var busy: Int { state.withLock { capacity - $0.free } }

    var free: Int { state.withLock { $0.free } }

    /// The number of free slots once there is at least one; nil once stopped.
    func waitForFree() async -> Int? {
        let answer = await state.wait(for: .free, cancelled: nil) { s -> Answer? in
            if s.stopped { return .stopped }
            if s.free > 0 { return .free(s.free) }
            return nil
        }
        if case .free(let count) = answer { return count }
        return nil
    }

    func take(_ count: Int) {
        state.withLock { $0.free -= count }
    }

    func give() {
        let capacity = capacity
        state.update { s, waiters in
            s.free += 1
            let free: Answer = s.stopped ? .stopped : .free(s.free)
            let idle = s.free == capacity
            waiters.resume { wait -> Answer? in
                switch wait {
                case .free: free
                case .idle: idle ? .idle : nil
                }
            }
        }
    }

    func stop() {
        state.update { s, waiters in
            s.stopped = true
            waiters.resume { wait -> Answer? in wait == .free ? .stopped : nil }
        }
    }

    /// Returns once every slot is free, or (when `cancellable`) when the calling task is cancelled.
    func waitUntilIdle(cancellable: Bool = true) async {
        let capacity = capacity
        _ = await state.wait(for: .idle, cancelled: cancellable ? .idle : nil) { s -> Answer? in s.free == capacity ? .idle : nil }
    }
}

/// Why a running handler is being stopped before it finished.
enum Interruption: Sendable, Equatable {
    case timedOut(Duration)
    case cancelRequested
    case leaseLost
    /// The lease's last confirmed expiry (less the margin) passed without a renewal: the worker
    /// stops before the server may hand the task to someone else.
    case fenced
    case draining
}

/// Lets the worker interrupt one execution from outside (the supervisor's timeout and
/// heartbeat answers, the drain deadline) by cancelling the execution's task through its handle.
///
/// Each execution is a task of its own whose handle the lease loop attaches here, and the
/// handler runs inline in it, with no watcher task or timer beside it (a child task per
/// execution costs more than a no-op handler: BENCHMARKS.md). No task is cancelled but through
/// its own handle.
final class ExecutionControl: Sendable {
    private struct State {
        var reason: Interruption?
        var task: Task<Void, Never>?
        var ended = false
    }

    private let state = Mutex(State())

    /// Why the execution was interrupted, if it was.
    var reason: Interruption? { state.withLock { $0.reason } }

    /// The execution's task: an interruption that came before it is applied at once.
    func attach(_ task: Task<Void, Never>) {
        let cancelNow = state.withLock { s in
            guard !s.ended else { return false }
            s.task = task
            return s.reason != nil
        }
        if cancelNow { task.cancel() }
    }

    /// Records the first reason and cancels the execution's task, while its handler runs.
    func interrupt(_ reason: Interruption) {
        let task = state.withLock { s -> Task<Void, Never>? in
            guard s.reason == nil, !s.ended else { return nil }
            s.reason = reason
            return s.task
        }
        task?.cancel()
    }

    /// The handler ended: later interruptions change nothing. Returns the one that came before.
    func end() -> Interruption? {
        state.withLock { s in
            s.ended = true
            s.task = nil
            return s.reason
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
        /// How long a confirmation of the lease (the lease call, a heartbeat's answer) keeps the
        /// execution safe: the lease's length less the fencing margin.
        var fenceAfter: Duration
        /// When the lease may be gone for all this worker knows: the send time of the last call
        /// the server confirmed, plus `fenceAfter`.
        var fenceAt: Timestamp
        /// Reported overdue once: a handler that takes its time to stop is not reported again.
        var overdue = false
        /// A heartbeat is on its way: the next waits for its answer.
        var heartbeatInFlight = false

        /// The earlier of the timeout and the fence.
        var nextDeadline: Timestamp { min(deadline, fenceAt) }

        /// When its fence comes within one heartbeat period: a heartbeat is sent then, whatever
        /// the worker's beat, so that a lease that arrived late (leased near the end of a
        /// long-poll, or its answer held up) is confirmed before its fence instead of being
        /// given up; never sooner than a quarter period after the last one, so that heartbeats
        /// failing at once do not spin.
        var urgentHeartbeatAt: Timestamp {
            let nearFence = fenceAt - heartbeatEvery
            return heartbeatSent.map { max(nearFence, $0 + heartbeatEvery / 4) } ?? nearFence
        }
        /// When the last heartbeat was sent (nil: none yet).
        var heartbeatSent: Timestamp?

        /// When the supervisor must look at it next: its timeout, its fence, or its urgent
        /// heartbeat (while none is on its way).
        var nextAttention: Timestamp { heartbeatInFlight ? nextDeadline : min(nextDeadline, urgentHeartbeatAt) }
    }

    private struct State {
        var executions: [Int: Execution] = [:]
        var nextID = 0
        /// When the supervisor wakes next (nil: it is not asleep).
        var wakeAt: Timestamp?
        var earlierDeadline = false
    }

    /// The one waiter is the supervisor.
    private let state = WaitableState<State, Void, Void>(State())

    /// Registers a running execution; returns its id.
    func add(_ execution: Execution) -> Int {
        var execution = execution
        return state.update { s, waiters in
            s.nextID += 1
            execution.id = s.nextID
            s.executions[execution.id] = execution
            if let wakeAt = s.wakeAt, execution.nextAttention < wakeAt {
                s.wakeAt = nil
                s.earlierDeadline = true
                waiters.resumeAll(with: ())
            }
            return execution.id
        }
    }

    func remove(_ id: Int) {
        _ = state.withLock { $0.executions.removeValue(forKey: id) }
    }

    var all: [Execution] { state.withLock { Array($0.executions.values) } }

    /// The executions due for a heartbeat at `now` with none in flight — on the worker's beat
    /// (`onBeat`) those whose period has passed, at any time those whose fence is near; each is
    /// marked in flight, and dated `now`, until `heartbeatConfirmed` or `heartbeatTried`.
    func dueForHeartbeat(at now: Timestamp, onBeat: Bool = true) -> [Execution] {
        state.withLock { s in
            var due: [Execution] = []
            for (id, execution) in s.executions
            where !execution.heartbeatInFlight
                && ((onBeat && now >= execution.lastHeartbeat + execution.heartbeatEvery) || now >= execution.urgentHeartbeatAt)
            {
                s.executions[id]?.heartbeatInFlight = true
                s.executions[id]?.lastHeartbeat = now
                s.executions[id]?.heartbeatSent = now
                due.append(execution)
            }
            return due
        }
    }

    /// A heartbeat sent at `sentAt` was answered: the lease is safe until `sentAt + fenceAfter`.
    func heartbeatConfirmed(_ id: Int, sentAt: Timestamp) {
        state.withLock { s in
            guard var execution = s.executions[id] else { return }
            execution.heartbeatInFlight = false
            execution.fenceAt = max(execution.fenceAt, sentAt + execution.fenceAfter)
            s.executions[id] = execution
        }
    }

    /// A heartbeat was not answered: try again at the next beat, and let the fence stand.
    func heartbeatTried(_ id: Int) {
        state.withLock { $0.executions[id]?.heartbeatInFlight = false }
    }

    /// The executions that passed their timeout, and those that passed their fence, since the
    /// last call, as of `now`; and when the supervisor must wake next: `wakeBy`, or the
    /// earliest deadline still ahead if sooner.
    func overdue(at now: Timestamp, wakeBy: Timestamp) -> (timedOut: [Execution], fenced: [Execution], wakeAt: Timestamp) {
        state.withLock { s in
            var timedOut: [Execution] = []
            var fenced: [Execution] = []
            var wakeAt = wakeBy
            for (id, execution) in s.executions where !execution.overdue {
                if execution.fenceAt <= now {
                    fenced.append(execution)
                    s.executions[id]?.overdue = true
                } else if execution.deadline <= now {
                    timedOut.append(execution)
                    s.executions[id]?.overdue = true
                } else if execution.nextAttention < wakeAt {
                    wakeAt = execution.nextAttention
                }
            }
            s.wakeAt = wakeAt
            s.earlierDeadline = false
            return (timedOut, fenced, wakeAt)
        }
    }

    /// Returns when an execution with an earlier deadline than the supervisor's wake-up time
    /// starts, or when the calling task is cancelled.
    func waitForEarlierDeadline() async {
        await state.wait(cancelled: ()) { s in s.earlierDeadline ? () : nil }
    }
}

/// Outcomes waiting to be reported, taken in batches by the worker's reporting loop: a handler
/// that finished hands its outcome over and frees its slot at once, and outcomes that pile up
/// while one report is on its way go out together in the next.
///
/// Bounded: at `capacity` outcomes, a finishing execution waits (holding its slot, so the worker
/// leases no more) until the reporting loop takes some; a source that cannot take reports
/// (unreachable) thus stops the worker instead of filling its memory.
///
/// While `carrying` is on (the lease loop is about to call), carriable items (completions) are
/// held for the lease loop to take with `takeHeld` and send along with its lease call, instead
/// of waking the reporting loop; turning it off hands whatever is held to the reporting loop, and
/// so does a full queue (the lease loop may be waiting for a slot that a waiting adder holds).
final class OutcomeQueue<Item: Sendable>: Sendable {
    private struct State {
        var items: [Item] = []
        var held: [Item] = []
        var carrying = false
        var closed = false

        var count: Int { items.count + held.count }

        mutating func handOverHeld() {
            items += held
            held = []
        }
    }

    private enum Wait: Sendable { case items, room }

    /// What a waiter is woken with: the reporting loop with items or the end, an adder with room.
    private enum Delivery: Sendable {
        case items([Item])
        case closed
        case room
    }

    private let state: WaitableState<State, Wait, Delivery>
    let capacity: Int

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        state = WaitableState(State())
    }

    /// Queues `item`, first waiting for room when the queue is full.
    func add(_ item: Item, carriable: Bool = false) async {
        let capacity = capacity
        while true {
            let queued = state.update { s, waiters -> Bool in
                guard s.count < capacity else {
                    // Full: what is held goes to the reporting loop, which makes room.
                    s.handOverHeld()
                    Self.wakeReporter(&s, &waiters)
                    return false
                }
                Self.append(item, carriable: carriable, &s, &waiters)
                return true
            }
            if queued { return }
            _ = await state.wait(for: .room, cancelled: nil) { s -> Delivery? in s.count < capacity ? .room : nil }
        }
    }

    private static func append(_ item: Item, carriable: Bool, _ s: inout State, _ waiters: inout WaitableState<State, Wait, Delivery>.Waiters) {
        if carriable, s.carrying {
            s.held.append(item)
        } else {
            s.items.append(item)
            wakeReporter(&s, &waiters)
        }
    }

    /// Hands the queued items to the waiting reporting loop, if it waits.
    private static func wakeReporter(_ s: inout State, _ waiters: inout WaitableState<State, Wait, Delivery>.Waiters) {
        guard !s.items.isEmpty, !waiters.isEmpty else { return }
        var given = false
        let items = s.items
        waiters.resume { wait in
            guard wait == .items, !given else { return nil }
            given = true
            return .items(items)
        }
        if given {
            s.items = []
            Self.wakeAdders(&waiters)
        }
    }

    private static func wakeAdders(_ waiters: inout WaitableState<State, Wait, Delivery>.Waiters) {
        waiters.resume { wait -> Delivery? in wait == .room ? .room : nil }
    }

    /// Holds carriable items from now on (on), or hands the held ones to the reporting loop (off).
    func setCarrying(_ on: Bool) {
        state.update { s, waiters in
            s.carrying = on && !s.closed
            guard !s.carrying, !s.held.isEmpty else { return }
            s.handOverHeld()
            Self.wakeReporter(&s, &waiters)
        }
    }

    /// Up to `limit` held items, oldest first.
    func takeHeld(limit: Int) -> [Item] {
        state.update { s, waiters in
            let taken = Array(s.held.prefix(limit))
            s.held.removeFirst(taken.count)
            if !taken.isEmpty { Self.wakeAdders(&waiters) }
            return taken
        }
    }

    /// No more items will come; `next` returns nil once the queued ones (held ones included)
    /// are taken.
    func close() {
        state.update { s, waiters in
            s.closed = true
            s.carrying = false
            s.handOverHeld()
            if s.items.isEmpty {
                waiters.resume { wait -> Delivery? in wait == .items ? .closed : nil }
            } else {
                Self.wakeReporter(&s, &waiters)
            }
        }
    }

    /// Everything queued, waiting for at least one item; nil once closed and empty.
    func next() async -> [Item]? {
        let delivery = await state.wait(for: .items, cancelled: nil) { s -> Delivery? in
            if !s.items.isEmpty {
                defer { s.items = [] }
                return .items(s.items)
            }
            return s.closed ? .closed : nil
        }
        guard case .items(let taken) = delivery else { return nil }
        // Taking made room: wake the adders that wait for it.
        state.update { _, waiters in Self.wakeAdders(&waiters) }
        return taken
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
    /// Handlers stopped because their lease was not confirmed in time (self-fencing); their
    /// tasks were given up without a report, to be reaped and run again.
    public var tasksFenced = 0
    /// Handler time over every finished attempt.
    public var totalDuration: Duration = .zero

    public var averageTaskDuration: Duration {
        let finished = tasksCompleted + tasksFailed
        return finished == 0 ? .zero : totalDuration / finished
    }
}
