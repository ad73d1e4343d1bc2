import SwitchboardCore

/// Group commit: what transitions change gathers in an open batch while the batch before it is
/// being written, so one transaction (one fsync) carries every change that arrived during the
/// previous commit, and a lone change goes out at once — nothing waits on a timer.
///
/// Batches are numbered and committed in order. A transition's caller reads `generation` before
/// it changes anything and calls `waitForCommit(since:)` after: it returns once every batch that
/// can hold the change has committed, and throws when a commit failed meanwhile (then the failed
/// batch and the open one behind it are dropped, and the state is rebuilt from the file:
/// `run(recover:)`), so no change is acknowledged that the file does not hold.
final class SQLiteCommitLog: MemoryStateJournal {
    private struct State {
        var open = SQLiteBatch()
        var openNumber: UInt64 = 1
        /// Every batch up to this one has committed or failed.
        var finished: UInt64 = 0
        /// Counts failed commits: a waiter that sees it move cannot know its change was kept.
        var generation: UInt64 = 0
        var lastFailure: SwitchboardError?
        /// Set when the state could not be rebuilt after a failure: every write is refused.
        var broken: SwitchboardError?
        var closed = false
        /// The writer has committed its last batch: nothing more will be.
        var writerStopped = false
        var checkpointDue = false
    }

    private enum Waiter: Sendable, Hashable {
        case writer
        case checkpointer
        case commit(UInt64)
    }

    private let state = WaitableState<State, Waiter, Void>(State())
    private let store: SQLiteStore

    init(store: SQLiteStore) {
        self.store = store
    }

    // MARK: Changes in

    func append(_ changes: MemoryStateChanges) {
        state.update { s, waiters in
            s.open.merge(changes)
            waiters.resume(tag: .writer, with: ())
        }
    }

    /// A lock granted, renewed (`lease`) or released (nil, with the released token).
    func appendLock(key: String, lease: LockLease?, releasedToken: UInt64 = 0) {
        state.update { s, waiters in
            if let lease {
                if case .some(.some(let known)) = s.open.locks[key], known.token > lease.token {} else { s.open.locks[key] = lease }
                s.open.nextLockToken = max(s.open.nextLockToken ?? 0, lease.token + 1)
            } else {
                if case .some(.some(let known)) = s.open.locks[key], known.token != releasedToken {} else {
                    s.open.locks[key] = .some(nil)
                    s.open.releasedLockTokens[key] = releasedToken
                }
            }
            waiters.resume(tag: .writer, with: ())
        }
    }

    // MARK: Waiting for the commit

    var generation: UInt64 { state.withLock { $0.generation } }

    /// Returns when the changes made since `generation` was read are in the file.
    func waitForCommit(since generation: UInt64) async throws(SwitchboardError) {
        let target = state.withLock { s -> UInt64 in s.open.isEmpty ? s.openNumber - 1 : s.openNumber }
        await state.wait(for: .commit(target), cancelled: nil) { s in
            s.finished >= target || s.broken != nil || s.writerStopped ? () : nil
        }
        let failure = state.withLock { s -> SwitchboardError? in
            if let broken = s.broken { return broken }
            if s.finished < target { return .unavailable("the database is closed") }
            return s.generation == generation ? nil : s.lastFailure
        }
        if let failure { throw failure }
    }

    /// The error a write is refused with before it is tried: a log that cannot write any more.
    var refusal: SwitchboardError? {
        state.withLock { s in s.broken ?? (s.closed ? .unavailable("the database is closed") : nil) }
    }

    // MARK: The writer

    /// Commits batches until `close`, then the last one. On a failed commit, `recover` (given
    /// the error) must drop the open batch with `discardOpen` and rebuild the state from the
    /// file, both in one hold of the state's lock, so no transition sees the state in between.
    func run(recover: @Sendable (SwitchboardError) throws -> Void) async {
        while true {
            await state.wait(for: .writer, cancelled: nil) { s in !s.open.isEmpty || s.closed ? () : nil }
            let next = state.withLock { s -> (batch: SQLiteBatch, number: UInt64)? in
                guard !s.open.isEmpty else { return nil }
                defer {
                    s.open = SQLiteBatch()
                    s.openNumber += 1
                }
                return (s.open, s.openNumber)
            }
            guard let (batch, number) = next else {
                // Closed, nothing left: whoever changes something now is told it was not kept.
                state.update { s, waiters in
                    s.writerStopped = true
                    waiters.resume { if case .commit = $0 { return () } else { return nil } }
                }
                return
            }
            do {
                if batch.hasRows { try await store.write(batch) }
                let checkpointDue = store.checkpointIsDue
                state.update { s, waiters in
                    if checkpointDue, !s.checkpointDue {
                        s.checkpointDue = true
                        waiters.resume(tag: .checkpointer, with: ())
                    }
                    s.finished = max(s.finished, number)
                    let finished = s.finished
                    waiters.resume { tag in
                        if case .commit(let target) = tag, target <= finished { return () }
                        return nil
                    }
                }
            } catch {
                let failure = (error as? SQLiteStoreError)?.switchboardError ?? .unavailable("database write failed: \(error)")
                do {
                    try recover(failure)
                } catch {
                    let broken = SwitchboardError.unavailable(
                        "the database could not be read back after a failed write (\(error)); restart the server")
                    state.update { s, waiters in
                        s.broken = broken
                        waiters.resume { if case .commit = $0 { return () } else { return nil } }
                    }
                }
            }
        }
    }

    /// Checkpoints the write-ahead log whenever a commit finds it grown (`SQLiteStore.checkpoint`),
    /// until `close`. A checkpoint that fails is tried again after the next commit.
    func runCheckpoints() async {
        while true {
            await state.wait(for: .checkpointer, cancelled: nil) { s in s.checkpointDue || s.closed ? () : nil }
            if state.withLock({ $0.closed }) { return }
            try? await store.checkpoint()
            state.withLock { $0.checkpointDue = false }
        }
    }

    /// Drops the open batch (its changes were made on a state the failed commit left behind)
    /// and fails every waiter up to it. Called by `recover`, under the state's lock.
    func discardOpen(failure: SwitchboardError) {
        state.update { s, waiters in
            s.open = SQLiteBatch()
            s.finished = s.openNumber
            s.openNumber += 1
            s.generation += 1
            s.lastFailure = failure
            let finished = s.finished
            waiters.resume { tag in
                if case .commit(let target) = tag, target <= finished { return () }
                return nil
            }
        }
    }

    /// Lets the writer commit what is open and stop.
    func close() {
        state.update { s, waiters in
            s.closed = true
            waiters.resume(tag: .writer, with: ())
            waiters.resume(tag: .checkpointer, with: ())
        }
    }
}
