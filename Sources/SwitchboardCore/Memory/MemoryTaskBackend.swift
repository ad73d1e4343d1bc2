import DequeModule
import HeapModule
import Synchronization

/// The embedded backend: all state in this process, behind one lock.
///
/// Per queue, a priority heap of ready tasks ordered by (priority desc, sequence asc) and a heap
/// of scheduled/retrying tasks by due time; one heap of lease expiries; a deque of finished tasks
/// for retention. Enqueue and lease are O(log n); nothing per task but its record and a few
/// heap entries (no timers, no closures).
public final class MemoryTaskBackend: TaskBackend, DeadLetterAdministration, QueuePausing, FinishedTaskRetention, DurabilityReporting {
    private let state: Mutex<MemoryBackendState>
    private let journal: (any MemoryStateJournal)?

    /// - Parameters:
    ///   - errorHistoryLimit: failures kept per task (see `TaskLimits.maxErrorHistory`).
    ///   - journal: given every transition's changes, in order, under the lock (a durable store
    ///     behind this state: the SQLite backend).
    public init(errorHistoryLimit: Int = TaskLimits().maxErrorHistory, journal: (any MemoryStateJournal)? = nil) {
        state = Mutex(MemoryBackendState(errorHistoryLimit: errorHistoryLimit, journaling: journal != nil))
        self.journal = journal
    }

    /// One transition: one lock hold, whose changes go to the journal before the lock is let go.
    private func transition<T: Sendable, E: Error>(_ body: (inout MemoryBackendState) throws(E) -> T) throws(E) -> T {
        try state.withLock { s throws(E) -> T in
            defer { if let journal, let changes = s.drainChanges() { journal.append(changes) } }
            return try body(&s)
        }
    }

    public func enqueue(_ tasks: [NewTask], now: Timestamp) -> [EnqueueOutcome] {
        transition { s in
            tasks.map { new in
                if let key = new.idempotencyKey, let known = s.idempotencyKeys[key], known.expiresAt > now,
                    let box = s.tasks[known.id]
                {
                    return EnqueueOutcome(task: box.record, created: false)
                }
                if !new.idIsFresh, let box = s.tasks[new.record.id] {
                    return EnqueueOutcome(task: box.record, created: false)
                }
                let box = TaskBox(record: new.record, queue: s.queue(new.record.queue), sequence: s.takeSequence(), now: now)
                s.tasks[new.record.id] = box
                s.noteCreated(box)
                s.byCreation.append(box.createdSequence, box)
                if let run = new.record.runID {
                    s.byRun[run, default: SequenceIndex()].append(box.createdSequence, box)
                    s.runs.note(run, sequence: box.createdSequence)
                }
                if let key = new.idempotencyKey, let expiresAt = new.idempotencyExpiresAt {
                    s.idempotencyKeys[key] = (new.record.id, expiresAt)
                    s.touchIdempotencyKey(key)
                    s.idempotencyExpiries.append((expiresAt, key))
                }
                let status = new.record.status
                box.queue.counts[status.index] += 1
                if status == .scheduled, let due = new.record.notBefore, due > now {
                    s.makeDue(box, .scheduled, at: due, now: now)
                } else {
                    s.makeReady(box, sequence: box.createdSequence, since: now, now: now)
                }
                return EnqueueOutcome(task: box.record, created: true)
            }
        }
    }

    public func lease(
        queues: [String], maxTasks: Int, workerID: String, terms: LeaseTerms, now: Timestamp
    ) -> [TaskLease] {
        var newestCreation: UInt64 = 0
        return lease(queues: queues, maxTasks: maxTasks, workerID: workerID, terms: terms, now: now, newestCreation: &newestCreation)
    }

    /// `lease`, also telling the newest creation sequence among the leased tasks: with a journal,
    /// whether their creation has been written yet (`SQLiteTaskBackend` answers a lease before
    /// its own commit only when it has).
    public func lease(
        queues: [String], maxTasks: Int, workerID: String, terms: LeaseTerms, now: Timestamp, newestCreation: inout UInt64
    ) -> [TaskLease] {
        guard maxTasks > 0 else { return [] }
        return transition { s in
            var leased: [TaskLease] = []
            for queue in queues where leased.count < maxTasks {
                guard let state = s.queues[queue], !state.paused else { continue }
                _ = s.promoteDue(queue: queue, now: now)
                while leased.count < maxTasks, let entry = state.ready.popMin() {
                    guard entry.isLive else { continue }
                    let box = entry.box
                    if let key = box.record.lockKey {
                        guard !s.runningLockKeys.contains(key) else {
                            s.parkedByLockKey[key, default: Deque()].append(entry)
                            continue
                        }
                        s.runningLockKeys.insert(key)
                    }
                    var fencingToken: UInt64?
                    if box.record.lockKey != nil {
                        fencingToken = s.nextFencingToken
                        s.nextFencingToken += 1
                    }
                    let leaseID = MemoryLeaseID.make(taskID: box.record.id, random: &s.random)
                    let expiresAt = now + terms.duration(for: box.record)
                    box.leaseID = leaseID
                    box.record.attempts += 1
                    box.record.startedAt = now
                    box.record.workerID = workerID
                    box.record.leaseExpiresAt = expiresAt
                    s.setStatus(box, .running, now: now)
                    s.leases.insert(LeaseEntry(expiresAt: expiresAt, leaseID: leaseID, box: box))
                    newestCreation = max(newestCreation, box.createdSequence)
                    leased.append(
                        TaskLease(
                            leaseID: leaseID, expiresAt: expiresAt, task: box.record, readySince: box.readySince,
                            fencingToken: fencingToken))
                }
            }
            return leased
        }
    }

    public func heartbeat(leaseID: String, extension terms: LeaseTerms, now: Timestamp) throws -> HeartbeatStatus {
        try transition { s throws(SwitchboardError) in
            let box = try s.leased(leaseID)
            let expiresAt = now + terms.duration(for: box.record)
            s.touch(box)
            box.record.leaseExpiresAt = expiresAt
            box.record.updatedAt = now
            s.leases.insert(LeaseEntry(expiresAt: expiresAt, leaseID: leaseID, box: box))
            return HeartbeatStatus(expiresAt: expiresAt, cancelRequested: box.cancelRequested)
        }
    }

    /// The whole batch under one lock hold.
    public func complete(batch: [LeaseCompletion], now: Timestamp) -> [Result<TaskRecord, any Error>] {
        transition { s in
            batch.map { completion in
                Result { () throws(SwitchboardError) -> TaskRecord in
                    let box = try s.leased(completion.leaseID)
                    _ = s.endLease(box)
                    box.record.result = completion.result
                    s.finish(box, .completed, now: now)
                    return box.record
                }.mapError { $0 as any Error }
            }
        }
    }

    public func fail(
        leaseID: String, message: String, now: Timestamp, decide: @Sendable (TaskRecord) -> FailureDecision
    ) throws -> TaskRecord {
        try transition { s throws(SwitchboardError) in
            let box = try s.leased(leaseID)
            s.applyFailure(box, message: message, now: now, decide: decide)
            return box.record
        }
    }

    public func release(
        leaseID: String, now: Timestamp, maxReleases: Int, decide: @Sendable (TaskRecord) -> FailureDecision
    ) throws -> TaskRecord {
        try transition { s throws(SwitchboardError) in
            let box = try s.leased(leaseID)
            if !box.cancelRequested {
                box.record.releases += 1
                if box.record.releases > maxReleases {
                    s.applyFailure(box, message: tooManyReleasesMessage(maxReleases), now: now, decide: decide)
                    return box.record
                }
            }
            _ = s.endLease(box)
            if box.cancelRequested {
                s.finish(box, .cancelled, now: now)
            } else {
                box.record.attempts -= 1
                box.record.workerID = nil
                s.makeReady(box, sequence: box.readySequence, since: now, now: now)
            }
            return box.record
        }
    }

    public func cancel(id: String, now: Timestamp) throws -> TaskRecord {
        try transition { s throws(SwitchboardError) in
            guard let box = s.tasks[id] else { throw .notFound("no task \(id)") }
            switch box.record.status {
            case .scheduled, .pending, .retrying:
                box.dueAt = nil
                s.finish(box, .cancelled, now: now)
                // It may have been the task a freed key was handed to: pass the key on.
                if let key = box.record.lockKey, !s.runningLockKeys.contains(key) { _ = s.unpark(key) }
            case .running:
                s.touch(box)
                box.cancelRequested = true
                box.record.updatedAt = now
            case .cancelled:
                break
            case .completed, .dead:
                throw .conflict("task \(id) is already \(box.record.status.rawValue) and cannot be cancelled")
            }
            return box.record
        }
    }

    public func task(id: String) -> TaskRecord? {
        state.withLock { $0.tasks[id]?.record }
    }

    public func list(_ filter: TaskFilter, page: PageRequest) throws -> Page<TaskRecord> {
        let cursor = try MemoryCursor.parse(page.cursor)
        let limit = min(max(page.limit, 1), PageRequest.maxLimit)
        return state.withLock { s in
            let result: (items: [TaskBox], next: UInt64?)
            if filter.status == .dead {
                result = s.byBurial.page(after: cursor, limit: limit) {
                    MemoryBackendState.isBuried($0) && filter.matches($0.box.record)
                }
            } else if let run = filter.runID {
                result = s.byRun[run]?.page(after: cursor, limit: limit) { !$0.box.removed && filter.matches($0.box.record) }
                    ?? ([], nil)
            } else {
                result = s.byCreation.page(after: cursor, limit: limit) { !$0.box.removed && filter.matches($0.box.record) }
            }
            return Page(items: result.items.map(\.record), nextCursor: result.next.map(MemoryCursor.make))
        }
    }

    public func requeueDead(id: String, now: Timestamp) throws -> TaskRecord {
        try transition { s throws(SwitchboardError) in
            guard let box = s.tasks[id], box.record.status == .dead else {
                throw .notFound("no task \(id) in the dead-letter queue")
            }
            Self.requeue(box, in: &s, now: now)
            return box.record
        }
    }

    public func requeueDead(matching filter: TaskFilter, now: Timestamp) -> Int {
        transition { s in
            let boxes = s.byBurial.all { MemoryBackendState.isBuried($0) && filter.matches($0.box.record) }
            for box in boxes { Self.requeue(box, in: &s, now: now) }
            return boxes.count
        }
    }

    private static func requeue(_ box: TaskBox, in s: inout MemoryBackendState, now: Timestamp) {
        box.record.attempts = 0
        box.record.releases = 0
        box.record.finishedAt = nil
        box.record.workerID = nil
        box.cancelRequested = false
        s.makeReady(box, sequence: s.takeSequence(), since: now, now: now)
        s.byBurial.noteRemoval(isLive: MemoryBackendState.isBuried)
    }

    public func deleteDead(id: String) throws {
        try transition { s throws(SwitchboardError) in
            guard let box = s.tasks[id], box.record.status == .dead else {
                throw .notFound("no task \(id) in the dead-letter queue")
            }
            s.remove(box)
        }
    }

    public func purgeDead(matching filter: TaskFilter) -> Int {
        transition { s in
            let boxes = s.byBurial.all { MemoryBackendState.isBuried($0) && filter.matches($0.box.record) }
            for box in boxes { s.remove(box) }
            return boxes.count
        }
    }

    public func queues() -> [QueueInfo] {
        state.withLock { s in
            s.queues.keys.sorted().map { s.queues[$0]!.info(name: $0) }
        }
    }

    public func setPaused(_ paused: Bool, queue: String) -> QueueInfo {
        transition { s in
            let state = s.queue(queue)
            state.paused = paused
            s.touchQueue(queue)
            return state.info(name: queue)
        }
    }

    public func reapExpiredLeases(
        now: Timestamp, limit: Int, decide: @Sendable (TaskRecord) -> FailureDecision
    ) -> [TaskRecord] {
        transition { s in
            var reaped: [TaskRecord] = []
            while reaped.count < limit, let top = s.leases.min, top.expiresAt <= now {
                _ = s.leases.popMin()
                guard top.isLive else { continue }
                let worker = top.box.record.workerID ?? "unknown"
                s.applyFailure(
                    top.box, message: "lease expired: worker \(worker) stopped heartbeating", now: now, decide: decide)
                reaped.append(top.box.record)
            }
            return reaped
        }
    }

    public func promoteDue(now: Timestamp) -> Set<String> {
        transition { s in
            var promoted: Set<String> = []
            for name in Array(s.queues.keys) where s.promoteDue(queue: name, now: now) {
                promoted.insert(name)
            }
            return promoted
        }
    }

    public func nextDeadline(queues: [String]?) -> Timestamp? {
        state.withLock { s in
            var earliest: Timestamp?
            func consider(_ t: Timestamp?) {
                if let t, earliest == nil || t < earliest! { earliest = t }
            }
            if let queues {
                // A paused queue yields nothing until it is resumed (which wakes its leasers).
                for name in queues where s.queues[name]?.paused == false { consider(s.queues[name]?.due.min?.at) }
            } else {
                for q in s.queues.values { consider(q.due.min?.at) }
                consider(s.leases.min?.expiresAt)
            }
            return earliest
        }
    }

    public func trim(finishedBefore: Timestamp, keepAtMost: Int, now: Timestamp) -> Int {
        transition { s in
            var dropped = 0
            while let first = s.finished.min, first.at < finishedBefore || s.finished.count > keepAtMost {
                _ = s.finished.popMin()
                if !first.box.removed { s.remove(first.box); dropped += 1 }
            }
            while let first = s.idempotencyExpiries.first, first.expiresAt <= now {
                s.idempotencyExpiries.removeFirst()
                if let known = s.idempotencyKeys[first.key], known.expiresAt <= now {
                    s.idempotencyKeys[first.key] = nil
                    s.touchIdempotencyKey(first.key)
                }
            }
            return dropped
        }
    }

    public func ping() {}
}

/// Cursors are sequence numbers with a prefix, so a made-up cursor fails loudly instead of
/// silently starting somewhere.
extension MemoryTaskBackend: RunListing {
    public func runs(page: PageRequest) throws -> Page<String> {
        let cursor = try MemoryCursor.parse(page.cursor)
        let limit = min(max(page.limit, 1), PageRequest.maxLimit)
        let (runs, next) = state.withLock { $0.runs.page(before: cursor, limit: limit) }
        return Page(items: runs, nextCursor: next.map(MemoryCursor.make))
    }
}

enum MemoryCursor {
    static func make(_ sequence: UInt64) -> String { "c\(sequence)" }

    static func parse(_ cursor: String?) throws(SwitchboardError) -> UInt64? {
        guard let cursor else { return nil }
        guard cursor.first == "c", let value = UInt64(cursor.dropFirst()) else {
            throw .invalid("cursor '\(cursor)' is not one this server returned")
        }
        return value
    }
}

extension MemoryTaskBackend {
    public func durabilityReport() -> DurabilityReport {
        DurabilityReport(
            survivesRestart: false, settings: ["storage": "this process's memory"],
            warnings: ["tasks live in this process only: a stop, crash or restart loses every queued and running task; use --backend redis://… to keep them"])
    }
}

extension MemoryTaskBackend {
    /// Replaces the whole state with the image `load` reads: a durable store's content at start,
    /// or again after a write it could not commit (the state then holds changes the store does
    /// not). `load` runs under the lock, so no transition sees the state in between; when it
    /// throws, the state is left as it was.
    public func restore(loading load: () throws -> MemoryStateImage) throws {
        try state.withLock { s in
            let image = try load()
            s = MemoryBackendState(restoring: image, errorHistoryLimit: s.errorHistoryLimit, journaling: s.journaling)
        }
    }
}
