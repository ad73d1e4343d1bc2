import DequeModule
import HeapModule

/// One stored task with the backend's private bookkeeping. A class, so that every index holds
/// an 8-byte reference instead of a copy or a second dictionary lookup.
final class TaskBox {
    var record: TaskRecord
    /// Its queue's state, held here so that no transition looks the queue up by name.
    let queue: QueueState
    let createdSequence: UInt64
    /// Position in its queue's ready order; kept across a release so the task gets its place back.
    var readySequence: UInt64
    var readySince: Timestamp
    /// When a scheduled/retrying task is due.
    var dueAt: Timestamp?
    var leaseID: String?
    var cancelRequested = false
    var deadSequence: UInt64 = 0
    var removed = false
    /// Already among the changes of the transition under way (see `MemoryBackendState.touch`).
    var journaled = false

    init(record: TaskRecord, queue: QueueState, sequence: UInt64, now: Timestamp) {
        self.record = record
        self.queue = queue
        self.createdSequence = sequence
        self.readySequence = sequence
        self.readySince = now
    }
}

/// Heap entries are never removed from the middle: an entry whose task has moved on is stale and
/// is skipped when popped. Each kind says when it still holds.
struct ReadyEntry: Comparable {
    var priority: UInt8
    var sequence: UInt64
    var box: TaskBox

    var isLive: Bool { !box.removed && box.record.status == .pending && box.readySequence == sequence }

    /// The heap's minimum is the next task to lease: highest priority, then oldest.
    static func < (a: ReadyEntry, b: ReadyEntry) -> Bool {
        a.priority != b.priority ? a.priority > b.priority : a.sequence < b.sequence
    }

    static func == (a: ReadyEntry, b: ReadyEntry) -> Bool { a.priority == b.priority && a.sequence == b.sequence }
}

struct DueEntry: Comparable {
    var at: Timestamp
    var box: TaskBox

    var isLive: Bool {
        !box.removed && (box.record.status == .scheduled || box.record.status == .retrying) && box.dueAt == at
    }

    static func < (a: DueEntry, b: DueEntry) -> Bool {
        a.at != b.at ? a.at < b.at : a.box.createdSequence < b.box.createdSequence
    }

    static func == (a: DueEntry, b: DueEntry) -> Bool { a.at == b.at && a.box === b.box }
}

struct LeaseEntry: Comparable {
    var expiresAt: Timestamp
    var leaseID: String
    var box: TaskBox

    var isLive: Bool {
        !box.removed && box.record.status == .running && box.leaseID == leaseID && box.record.leaseExpiresAt == expiresAt
    }

    static func < (a: LeaseEntry, b: LeaseEntry) -> Bool { a.expiresAt < b.expiresAt }
    static func == (a: LeaseEntry, b: LeaseEntry) -> Bool { a.expiresAt == b.expiresAt && a.leaseID == b.leaseID }
}

struct FinishedEntry: Comparable {
    var at: Timestamp
    var box: TaskBox

    static func < (a: FinishedEntry, b: FinishedEntry) -> Bool {
        a.at != b.at ? a.at < b.at : a.box.createdSequence < b.box.createdSequence
    }

    static func == (a: FinishedEntry, b: FinishedEntry) -> Bool { a.at == b.at && a.box === b.box }
}

/// A class, so tasks can point at their queue's state (see `TaskBox.queue`); only ever touched
/// under the backend's lock.
final class QueueState {
    var ready = Heap<ReadyEntry>()
    var due = Heap<DueEntry>()
    /// Pending tasks by when they became ready (parked ones included), for the queue's latency.
    var oldest = OldestReady<TaskBox>()
    var paused = false
    var counts = [Int](repeating: 0, count: TaskStatus.allCases.count)

    static func isWaiting(_ entry: OldestReady<TaskBox>.Entry) -> Bool {
        let box = entry.ref
        return !box.removed && box.record.status == .pending && box.readySequence == entry.order && box.readySince == entry.since
    }

    func info(name: String) -> QueueInfo {
        var depth: [TaskStatus: Int] = [:]
        for status in TaskStatus.allCases { depth[status] = counts[status.index] }
        return QueueInfo(name: name, paused: paused, depth: depth, oldestPendingSince: oldest.oldest(isLive: Self.isWaiting))
    }
}

/// Everything the in-memory backend knows, guarded by one lock: each method of
/// `MemoryTaskBackend` is one critical section, hence one atomic transition.
struct MemoryBackendState {
    var tasks: [String: TaskBox] = [:]
    var queues: [String: QueueState] = [:]
    var leases = Heap<LeaseEntry>()
    /// Completed and cancelled tasks by the time they finished, for retention. A heap rather
    /// than a queue, so a clock that steps back cannot hide older tasks behind newer ones.
    var finished = Heap<FinishedEntry>()
    var idempotencyKeys: [String: (id: String, expiresAt: Timestamp)] = [:]
    var idempotencyExpiries = Deque<(expiresAt: Timestamp, key: String)>()
    /// Lock keys of running tasks, and the ready tasks waiting for each key to come free.
    var runningLockKeys: Set<String> = []
    /// One counter for every lock key's fencing tokens: strictly increasing per key, with nothing
    /// kept per key.
    var nextFencingToken: UInt64 = 1
    var parkedByLockKey: [String: Deque<ReadyEntry>] = [:]
    var byCreation = SequenceIndex()
    var byBurial = SequenceIndex()
    var byRun: [String: SequenceIndex] = [:]
    var runs = RunRecency()
    var nextSequence: UInt64 = 1
    var random = RandomBytes()
    let errorHistoryLimit: Int
    /// Whether a journal follows the changes: then each transition notes what it touched, and
    /// `drainChanges` hands it over at the transition's end.
    let journaling: Bool
    private var touchedTasks: [TaskBox] = []
    private var removedTasks: [UInt64] = []
    private var createdTasks: [UInt64] = []
    private var touchedQueues: [String] = []
    private var touchedIdempotencyKeys: [String] = []

    init(errorHistoryLimit: Int, journaling: Bool = false) {
        self.errorHistoryLimit = errorHistoryLimit
        self.journaling = journaling
    }

    /// The named queue's state, created on first use.
    mutating func queue(_ name: String) -> QueueState {
        if let existing = queues[name] { return existing }
        let created = QueueState()
        queues[name] = created
        touchQueue(name)
        return created
    }

    // MARK: Journal

    /// Notes that a task changed in the transition under way (once per transition).
    mutating func touch(_ box: TaskBox) {
        guard journaling, !box.journaled else { return }
        box.journaled = true
        touchedTasks.append(box)
    }

    /// Notes a task the transition under way created.
    mutating func noteCreated(_ box: TaskBox) {
        guard journaling else { return }
        createdTasks.append(box.createdSequence)
        touch(box)
    }

    mutating func touchQueue(_ name: String) {
        if journaling { touchedQueues.append(name) }
    }

    mutating func touchIdempotencyKey(_ key: String) {
        if journaling { touchedIdempotencyKeys.append(key) }
    }

    /// What the transition that just ran changed; nil when nothing.
    mutating func drainChanges() -> MemoryStateChanges? {
        guard !touchedTasks.isEmpty || !removedTasks.isEmpty || !touchedQueues.isEmpty || !touchedIdempotencyKeys.isEmpty else {
            return nil
        }
        var changes = MemoryStateChanges(nextSequence: nextSequence, nextFencingToken: nextFencingToken)
        changes.tasks.reserveCapacity(touchedTasks.count)
        for box in touchedTasks {
            box.journaled = false
            guard !box.removed else { continue }
            changes.tasks.append(
                StoredMemoryTask(
                    record: box.record, createdSequence: box.createdSequence, readySequence: box.readySequence,
                    readySince: box.readySince, dueAt: box.dueAt, leaseID: box.leaseID, cancelRequested: box.cancelRequested,
                    deadSequence: box.deadSequence))
        }
        changes.removedTasks = removedTasks
        changes.createdTasks = createdTasks
        for name in touchedQueues { changes.queues[name] = queues[name]?.paused ?? false }
        for key in touchedIdempotencyKeys {
            changes.idempotencyKeys[key] = .some(idempotencyKeys[key].map { IdempotencyEntry(taskID: $0.id, expiresAt: $0.expiresAt) })
        }
        touchedTasks.removeAll(keepingCapacity: true)
        removedTasks.removeAll(keepingCapacity: true)
        createdTasks.removeAll(keepingCapacity: true)
        touchedQueues.removeAll(keepingCapacity: true)
        touchedIdempotencyKeys.removeAll(keepingCapacity: true)
        return changes
    }

    mutating func takeSequence() -> UInt64 {
        defer { nextSequence += 1 }
        return nextSequence
    }

    // MARK: Status changes, keeping per-queue counts exact

    mutating func setStatus(_ box: TaskBox, _ status: TaskStatus, now: Timestamp) {
        touch(box)
        let old = box.record.status
        box.record.status = status
        box.record.updatedAt = now
        guard old != status else { return }
        box.queue.counts[old.index] -= 1
        box.queue.counts[status.index] += 1
    }

    mutating func makeReady(_ box: TaskBox, sequence: UInt64, since: Timestamp, now: Timestamp) {
        box.readySequence = sequence
        box.readySince = since
        box.dueAt = nil
        setStatus(box, .pending, now: now)
        box.queue.ready.insert(ReadyEntry(priority: box.record.priority, sequence: sequence, box: box))
        box.queue.oldest.insert(
            since: since, order: sequence, ref: box, liveCount: box.queue.counts[TaskStatus.pending.index], isLive: QueueState.isWaiting)
    }

    mutating func makeDue(_ box: TaskBox, _ status: TaskStatus, at: Timestamp, now: Timestamp) {
        box.dueAt = at
        setStatus(box, status, now: now)
        box.queue.due.insert(DueEntry(at: at, box: box))
    }

    mutating func finish(_ box: TaskBox, _ status: TaskStatus, now: Timestamp) {
        box.record.finishedAt = now
        setStatus(box, status, now: now)
        if status == .dead {
            box.deadSequence = takeSequence()
            byBurial.append(box.deadSequence, box)
        } else {
            finished.insert(FinishedEntry(at: now, box: box))
        }
    }

    // MARK: Leases

    /// The box of a live lease; `notFound` for an id that never was, `conflict` for a stale one.
    func leased(_ leaseID: String) throws(SwitchboardError) -> TaskBox {
        let (taskID, _) = MemoryLeaseID.parse(leaseID)
        guard let taskID, let box = tasks[taskID] else { throw .notFound("no lease \(leaseID)") }
        guard box.leaseID == leaseID, box.record.status == .running else {
            throw .conflict("lease \(leaseID) is no longer held: the task was re-leased, finished or its lease expired")
        }
        return box
    }

    /// Ends the running state's ownership; frees its lock key for the next parked task.
    /// Returns the queue that gained a ready task, if any.
    mutating func endLease(_ box: TaskBox) -> String? {
        box.leaseID = nil
        box.record.leaseExpiresAt = nil
        guard let key = box.record.lockKey else { return nil }
        runningLockKeys.remove(key)
        return unpark(key)
    }

    /// Hands a free lock key to the first live task parked behind it, which goes back to its
    /// queue in its old place. Returns that queue.
    mutating func unpark(_ key: String) -> String? {
        while let entry = parkedByLockKey[key]?.popFirst() {
            if entry.isLive {
                entry.box.queue.ready.insert(entry)
                if parkedByLockKey[key]?.isEmpty == true { parkedByLockKey[key] = nil }
                return entry.box.record.queue
            }
        }
        parkedByLockKey[key] = nil
        return nil
    }

    mutating func recordFailure(_ box: TaskBox, message: String, now: Timestamp) {
        box.record.error = message
        box.record.errors.append(
            TaskErrorEntry(
                attempt: box.record.attempts, at: now, message: message, workerID: box.record.workerID, startedAt: box.record.startedAt))
        if box.record.errors.count > errorHistoryLimit {
            box.record.errors.removeFirst(box.record.errors.count - errorHistoryLimit)
        }
    }

    /// The shared end of a failed attempt (a worker's report or an expired lease).
    mutating func applyFailure(
        _ box: TaskBox, message: String, now: Timestamp, decide: (TaskRecord) -> FailureDecision
    ) {
        recordFailure(box, message: message, now: now)
        _ = endLease(box)
        if box.cancelRequested {
            finish(box, .cancelled, now: now)
            return
        }
        switch decide(box.record) {
        case .retry(let at): makeDue(box, .retrying, at: max(at, now), now: now)
        case .bury: finish(box, .dead, now: now)
        }
    }

    // MARK: Promotion and removal

    mutating func promoteDue(queue name: String, now: Timestamp) -> Bool {
        var promoted = false
        guard let queue = queues[name] else { return false }
        while let top = queue.due.min, top.at <= now {
            _ = queue.due.popMin()
            guard top.isLive else { continue }
            makeReady(top.box, sequence: takeSequence(), since: top.at, now: now)
            promoted = true
        }
        return promoted
    }

    mutating func remove(_ box: TaskBox) {
        if journaling { removedTasks.append(box.createdSequence) }
        box.removed = true
        tasks[box.record.id] = nil
        box.queue.counts[box.record.status.index] -= 1
        byCreation.noteRemoval { !$0.box.removed }
        if box.record.status == .dead { byBurial.noteRemoval(isLive: Self.isBuried) }
        if let run = box.record.runID {
            byRun[run]?.noteRemoval { !$0.box.removed }
            if byRun[run]?.liveCount == 0 {
                byRun[run] = nil
                runs.forget(run)
            }
        }
    }

    static func isBuried(_ entry: SequenceIndex.Entry) -> Bool {
        !entry.box.removed && entry.box.record.status == .dead && entry.box.deadSequence == entry.sequence
    }
}

/// A memory lease id is 32 random hex digits followed by the task id: the random part makes it
/// unguessable, the task id lets a stale receipt be told apart (409) from a made-up one (404).
enum MemoryLeaseID {
    static func make(taskID: String, random: inout RandomBytes) -> String {
        let (a, b) = random.next16()
        var bytes = [UInt8]()
        bytes.reserveCapacity(32 + taskID.utf8.count)
        Hex.append(a, digits: 16, to: &bytes)
        Hex.append(b, digits: 16, to: &bytes)
        bytes.append(contentsOf: taskID.utf8)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func parse(_ leaseID: String) -> (taskID: String?, random: Substring) {
        let utf8 = leaseID.utf8
        guard utf8.count > 32 else { return (nil, "") }
        let split = utf8.index(utf8.startIndex, offsetBy: 32)
        return (String(leaseID[split...]), leaseID[..<split])
    }
}

extension MemoryBackendState {
    /// The state `image` describes, every index rebuilt: ready tasks in their old places, due
    /// ones on their timers, leases running until their recorded expiry (then reaped as any).
    init(restoring image: MemoryStateImage, errorHistoryLimit: Int, journaling: Bool) {
        self.init(errorHistoryLimit: errorHistoryLimit, journaling: journaling)
        func queueState(_ name: String) -> QueueState {
            if let existing = queues[name] { return existing }
            let created = QueueState()
            queues[name] = created
            return created
        }
        for (name, paused) in image.queues { queueState(name).paused = paused }
        for (key, entry) in image.idempotencyKeys { idempotencyKeys[key] = (entry.taskID, entry.expiresAt) }
        idempotencyExpiries = Deque(image.idempotencyKeys.map { ($0.value.expiresAt, $0.key) }.sorted { $0.0 < $1.0 })
        var highest: UInt64 = 0
        var buried: [TaskBox] = []
        for stored in image.tasks.sorted(by: { $0.createdSequence < $1.createdSequence }) {
            let queue = queueState(stored.record.queue)
            let box = TaskBox(record: stored.record, queue: queue, sequence: stored.createdSequence, now: stored.readySince)
            box.readySequence = stored.readySequence
            box.dueAt = stored.dueAt
            box.leaseID = stored.leaseID
            box.cancelRequested = stored.cancelRequested
            box.deadSequence = stored.deadSequence
            highest = max(highest, stored.createdSequence, stored.readySequence, stored.deadSequence)
            tasks[stored.record.id] = box
            byCreation.append(box.createdSequence, box)
            if let run = stored.record.runID {
                byRun[run, default: SequenceIndex()].append(box.createdSequence, box)
                runs.note(run, sequence: box.createdSequence)
            }
            let status = stored.record.status
            queue.counts[status.index] += 1
            switch status {
            case .pending:
                queue.ready.insert(ReadyEntry(priority: box.record.priority, sequence: box.readySequence, box: box))
                queue.oldest.insert(
                    since: box.readySince, order: box.readySequence, ref: box, liveCount: queue.counts[TaskStatus.pending.index],
                    isLive: QueueState.isWaiting)
            case .scheduled, .retrying:
                let due = stored.dueAt ?? stored.record.notBefore ?? stored.record.updatedAt
                box.dueAt = due
                queue.due.insert(DueEntry(at: due, box: box))
            case .running:
                // A lease without its receipt or expiry cannot be honoured: it ends at once.
                let expiresAt = stored.record.leaseExpiresAt ?? stored.record.updatedAt
                box.record.leaseExpiresAt = expiresAt
                let leaseID = stored.leaseID ?? ""
                box.leaseID = leaseID
                leases.insert(LeaseEntry(expiresAt: expiresAt, leaseID: leaseID, box: box))
                if let key = box.record.lockKey { runningLockKeys.insert(key) }
            case .completed, .cancelled:
                finished.insert(FinishedEntry(at: stored.record.finishedAt ?? stored.record.updatedAt, box: box))
            case .dead:
                buried.append(box)
            }
        }
        for box in buried.sorted(by: { $0.deadSequence < $1.deadSequence }) { byBurial.append(box.deadSequence, box) }
        nextSequence = max(image.nextSequence, highest + 1)
        nextFencingToken = max(image.nextFencingToken, 1)
    }
}
