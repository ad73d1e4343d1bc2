import SwitchboardCore
import Synchronization

/// A clock that moves only when told to (`advance(by:)`), for tests. Sleepers whose deadline
/// passes are resumed by the advance; `waitForSleepers` lets a test wait until the code under
/// test has gone to sleep, so an advance is never lost to a race.
public final class ManualClock: SwitchboardClock {
    private struct Sleeper {
        var deadline: Timestamp
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Timestamp
        var sleepers: [UInt64: Sleeper] = [:]
        var nextID: UInt64 = 0
        var watchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state: Mutex<State>

    public init(now: Timestamp = Timestamp(milliseconds: 1_795_000_000_000)) {
        state = Mutex(State(now: now))
    }

    public func now() -> Timestamp { state.withLock { $0.now } }

    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    public func sleep(until deadline: Timestamp) async throws {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resume: (() -> Void)? = state.withLock { s in
                    // A cancellation that came before this registration is seen here, under the lock.
                    if Task.isCancelled { return { continuation.resume(throwing: CancellationError()) } }
                    if deadline <= s.now { return { continuation.resume() } }
                    s.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return self.takeSatisfiedWatchers(&s)
                }
                resume?()
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline is now past.
    public func advance(by duration: Duration) {
        let due = state.withLock { s in
            s.now = s.now + duration
            let now = s.now
            let ids = s.sleepers.filter { $0.value.deadline <= now }.map(\.key)
            return ids.compactMap { s.sleepers.removeValue(forKey: $0) }
        }
        for sleeper in due.sorted(by: { $0.deadline < $1.deadline }) { sleeper.continuation.resume() }
    }

    /// Waits until at least `count` sleepers are asleep.
    public func waitForSleepers(_ count: Int = 1) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s in
                if s.sleepers.count >= count { return true }
                s.watchers.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private func takeSatisfiedWatchers(_ s: inout State) -> (() -> Void)? {
        let count = s.sleepers.count
        let satisfied = s.watchers.filter { $0.count <= count }
        guard !satisfied.isEmpty else { return nil }
        s.watchers.removeAll { $0.count <= count }
        return { for watcher in satisfied { watcher.continuation.resume() } }
    }
}
