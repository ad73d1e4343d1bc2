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

/// Lets the worker interrupt one execution from outside (heartbeat answers, the drain deadline).
final class ExecutionControl: Sendable {
    private struct State {
        var reason: Interruption?
        var waiter: CheckedContinuation<Interruption?, Never>?
        var cancelled = false
    }

    private let state = Mutex(State())

    func interrupt(_ reason: Interruption) {
        let waiter = state.withLock { s -> CheckedContinuation<Interruption?, Never>? in
            guard s.reason == nil else { return nil }
            s.reason = reason
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: reason)
    }

    /// The interruption once there is one; nil when the waiting task is cancelled first.
    func wait() async -> Interruption? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Interruption?, Never>) in
                let answer: Interruption?? = state.withLock { s in
                    if let reason = s.reason { return .some(reason) }
                    if s.cancelled { return .some(nil) }
                    s.waiter = continuation
                    return .none
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let waiter = state.withLock { s in
                s.cancelled = true
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume(returning: nil)
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
