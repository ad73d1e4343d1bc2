import Synchronization

/// State behind a lock, and tasks parked until it says they may go on: the one place where a
/// continuation is stored, resumed exactly once, and where a cancellation — also one that comes
/// before the task parks — is handled. Every waiting thing in the package (the ready signal,
/// group commit, the worker's slots, outcome queue, supervisor and executions, the connection
/// watch) is a small state type on top of this.
///
/// A waiter parks with a `tag` (what it waits for) and a `ready` check run under the lock before
/// it parks; `update` changes the state and resumes the waiters it picks by their tags, each with
/// its own value, after the lock is released.
public final class WaitableState<State: Sendable, Tag: Sendable, Value: Sendable>: Sendable {
    fileprivate struct Parked {
        var tag: Tag
        var continuation: CheckedContinuation<Value, Never>
    }

    private struct Locked {
        var state: State
        var parked: [UInt64: Parked] = [:]
        var nextID: UInt64 = 0
    }

    /// The parked waiters, as `update` sees them: it picks which to resume and with what.
    public struct Waiters {
        fileprivate var parked: [UInt64: Parked]
        fileprivate var resumed: [(CheckedContinuation<Value, Never>, Value)] = []

        public var isEmpty: Bool { parked.isEmpty }
        public var count: Int { parked.count }

        /// Resumes every waiter for which `value` gives a value, with it.
        public mutating func resume(where value: (Tag) -> Value?) {
            guard !parked.isEmpty else { return }
            for (id, waiter) in parked {
                guard let answer = value(waiter.tag) else { continue }
                parked.removeValue(forKey: id)
                resumed.append((waiter.continuation, answer))
            }
        }

        public mutating func resumeAll(with value: Value) {
            resume { _ in value }
        }

        /// Resumes the waiter parked with `tag`, if one is; returns whether one was.
        @discardableResult
        public mutating func resume(tag: Tag, with value: Value) -> Bool where Tag: Equatable {
            guard let entry = parked.first(where: { $0.value.tag == tag }) else { return false }
            parked.removeValue(forKey: entry.key)
            resumed.append((entry.value.continuation, value))
            return true
        }
    }

    private let locked: Mutex<Locked>

    public init(_ state: State) {
        locked = Mutex(Locked(state: state))
    }

    /// Reads or changes the state without resuming anyone.
    public func withLock<R>(_ body: (inout State) throws -> R) rethrows -> R {
        try locked.withLock { try body(&$0.state) }
    }

    /// Changes the state and resumes the waiters `body` picks, once the lock is released.
    @discardableResult
    public func update<R>(_ body: (inout State, inout Waiters) -> R) -> R {
        let (result, resumed): (R, [(CheckedContinuation<Value, Never>, Value)]) = locked.withLock { l in
            var waiters = Waiters(parked: l.parked)
            l.parked = [:]  // so that `waiters` holds the only reference while it is changed
            let result = body(&l.state, &waiters)
            l.parked = waiters.parked
            return (result, waiters.resumed)
        }
        for (continuation, value) in resumed { continuation.resume(returning: value) }
        return result
    }

    /// Returns `ready`'s value at once when it has one; else parks until `update` resumes this
    /// waiter. With `cancelled`, a cancellation of the calling task (before or while it is
    /// parked) returns that value instead; without it, the wait ignores cancellation (the
    /// waiter is owed an answer, such as the outcome of a batch its item went out in).
    public func wait(for tag: Tag, cancelled: Value?, ready: (inout State) -> Value?) async -> Value {
        let id = locked.withLock { l in
            l.nextID &+= 1
            return l.nextID
        }
        guard let cancelled else {
            return await park(id: id, tag: tag, cancelled: nil, ready: ready)
        }
        return await withTaskCancellationHandler {
            await park(id: id, tag: tag, cancelled: cancelled, ready: ready)
        } onCancel: {
            locked.withLock { $0.parked.removeValue(forKey: id) }?.continuation.resume(returning: cancelled)
        }
    }

    private func park(id: UInt64, tag: Tag, cancelled: Value?, ready: (inout State) -> Value?) async -> Value {
        await withCheckedContinuation { (continuation: CheckedContinuation<Value, Never>) in
            // A cancellation before this registration already ran its handler, which found
            // nothing to resume: `Task.isCancelled`, read under the same lock, catches it.
            let now: Value? = locked.withLock { l in
                if let value = ready(&l.state) { return value }
                if let cancelled, Task.isCancelled { return cancelled }
                l.parked[id] = Parked(tag: tag, continuation: continuation)
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }

    /// Waiters parked now.
    public var waiterCount: Int { locked.withLock { $0.parked.count } }
}

extension WaitableState where Tag == Void {
    public func wait(cancelled: Value?, ready: (inout State) -> Value?) async -> Value {
        await wait(for: (), cancelled: cancelled, ready: ready)
    }
}
