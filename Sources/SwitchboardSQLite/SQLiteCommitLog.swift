import Dispatch
import Foundation
import SwitchboardCore

/// Group commit: what transitions change gathers in an open batch while the batch before it is
/// being written, so one transaction (one fsync) carries every change that arrived during the
/// previous commit, and a lone change goes out at once — nothing waits on a timer.
///
/// Batches are numbered and committed in order by one writer thread. A transition's caller takes
/// the `generation` from `admit()` before it changes anything and calls `waitForCommit(since:)`
/// after: it returns once every batch that can hold the change has committed, and throws when a
/// commit failed meanwhile (then the failed batch and the open one behind it are dropped, and the
/// state is rebuilt from the file: `startWriter(recover:)`), so no change is acknowledged that the
/// file does not hold.
final class SQLiteCommitLog: MemoryStateJournal {
    /// What one transition handed over, kept as it came: the writer merges them into a batch,
    /// off the callers' threads and out of the memory backend's lock (`append` runs inside it).
    enum Change: Sendable {
        case state(MemoryStateChanges)
        case lock(key: String, lease: LockLease?, releasedToken: UInt64)
    }

    private struct State {
        /// The open batch's changes, in order.
        var open: [Change] = []
        /// The oldest task created in the open batch.
        var openOldestCreation: UInt64?
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
        /// The oldest task created in the batch being written: it and every newer one may not
        /// be in the file yet (creation sequences grow with the batches).
        var oldestCreationWriting: UInt64?
        /// The writer found nothing to commit and waits for `wakeWriter`.
        var writerAsleep = false
        /// Tests hold the writer between commits (`holdWriter`).
        var writerHeld = false
        var checkpointDue = false

        var refusal: SwitchboardError? { broken ?? (closed ? .unavailable("the database is closed") : nil) }

        /// Whether the writer sleeps (whoever is told so wakes it, once: the flag is cleared).
        mutating func takeWriterAsleep() -> Bool {
            defer { writerAsleep = false }
            return writerAsleep
        }
    }

    private enum Waiter: Sendable, Hashable {
        case checkpointer
        case commit(UInt64)
        case writerStopped
    }

    private let state = WaitableState<State, Waiter, Void>(State())
    private let store: SQLiteStore
    /// Signalled once for each time the writer fell asleep and was woken.
    private let wakeWriter = DispatchSemaphore(value: 0)

    init(store: SQLiteStore) {
        self.store = store
    }

    // MARK: Changes in

    func append(_ changes: MemoryStateChanges) {
        let oldestCreation = changes.createdTasks.min()
        let wake = state.withLock { s in
            s.open.append(.state(changes))
            if let oldestCreation { s.openOldestCreation = min(s.openOldestCreation ?? oldestCreation, oldestCreation) }
            return s.takeWriterAsleep()
        }
        if wake { wakeWriter.signal() }
    }

    /// A lock granted, renewed (`lease`) or released (nil, with the released token).
    func appendLock(key: String, lease: LockLease?, releasedToken: UInt64 = 0) {
        let wake = state.withLock { s in
            s.open.append(.lock(key: key, lease: lease, releasedToken: releasedToken))
            return s.takeWriterAsleep()
        }
        if wake { wakeWriter.signal() }
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

    /// Whether every task created at or before sequence `createdThrough` is in the file, and no
    /// commit failed since `generation` was read (then the state a change was made on is gone).
    func isSettled(createdThrough sequence: UInt64, since generation: UInt64) -> Bool {
        state.withLock { s in
            s.generation == generation && s.broken == nil && sequence < min(s.oldestCreationWriting ?? .max, s.openOldestCreation ?? .max)
        }
    }

    /// The error a write is refused with before it is tried: a log that cannot write any more.
    var refusal: SwitchboardError? {
        state.withLock { s in s.refusal }
    }

    /// Before a transition: its `generation`, or the refusal of a log that cannot write any more.
    func admit() throws(SwitchboardError) -> UInt64 {
        let (generation, refusal) = state.withLock { s in (s.generation, s.refusal) }
        if let refusal { throw refusal }
        return generation
    }

    // MARK: The writer

    /// Starts the writer on a thread of its own: it commits batches until `close`, then the last
    /// one. A thread, not a task: between commits a task would wait for one of the cooperative
    /// pool's threads, which the engine keeps busy, and each commit would hop to GRDB's queue and
    /// back (BENCHMARKS.md "SQLite": the writer thread). On a failed commit, `recover` (given the
    /// error) must drop the open batch with `discardOpen` and rebuild the state from the file,
    /// both in one hold of the state's lock, so no transition sees the state in between.
    func startWriter(recover: @escaping @Sendable (SwitchboardError) throws -> Void) {
        let thread = Thread { [self] in runWriter(recover: recover) }
        thread.name = "sqlite-writer"
        thread.start()
    }

    /// Tests: the writer finishes the commit under way and takes no other until let go.
    func holdWriter(_ held: Bool) {
        let wake = state.withLock { s in
            s.writerHeld = held
            return s.takeWriterAsleep()
        }
        if wake { wakeWriter.signal() }
    }

    /// Returns once the writer has committed its last batch (after `close`).
    func writerFinished() async {
        await state.wait(for: .writerStopped, cancelled: nil) { s in s.writerStopped ? () : nil }
    }

    private enum Turn {
        case commit(number: UInt64)
        case sleep
        case stop
    }

    private func runWriter(recover: (SwitchboardError) throws -> Void) {
        var changes: [Change] = []
        while true {
            let turn = state.withLock { s -> Turn in
                guard !s.open.isEmpty, !s.writerHeld else {
                    if s.open.isEmpty, s.closed { return .stop }
                    s.writerAsleep = true
                    return .sleep
                }
                defer {
                    s.oldestCreationWriting = s.openOldestCreation
                    s.openOldestCreation = nil
                    s.openNumber += 1
                }
                swap(&changes, &s.open)
                return .commit(number: s.openNumber)
            }
            switch turn {
            case .sleep:
                wakeWriter.wait()
            case .stop:
                // Closed, nothing left: whoever changes something now is told it was not kept.
                state.update { s, waiters in
                    s.writerStopped = true
                    waiters.resume { tag in
                        switch tag {
                        case .commit, .writerStopped: ()
                        case .checkpointer: nil
                        }
                    }
                }
                return
            case .commit(let number):
                var batch = SQLiteBatch()
                for change in changes { batch.merge(change) }
                // The batch's snapshot lists are then its own, so the write can read them in
                // place (`forEachSnapshot`) instead of copying each.
                changes.removeAll(keepingCapacity: true)
                commit(&batch, number: number, recover: recover)
            }
        }
    }

    private func commit(_ batch: inout SQLiteBatch, number: UInt64, recover: (SwitchboardError) throws -> Void) {
        do {
            if batch.hasRows { try store.write(&batch) }
            let checkpointDue = store.checkpointIsDue
            state.update { s, waiters in
                if checkpointDue, !s.checkpointDue {
                    s.checkpointDue = true
                    waiters.resume(tag: .checkpointer, with: ())
                }
                s.finished = max(s.finished, number)
                s.oldestCreationWriting = nil
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
            s.open = []
            s.openOldestCreation = nil
            s.oldestCreationWriting = nil
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
        let wake = state.update { s, waiters in
            s.closed = true
            waiters.resume(tag: .checkpointer, with: ())
            return s.takeWriterAsleep()
        }
        if wake { wakeWriter.signal() }
    }
}

