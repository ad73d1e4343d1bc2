import HeapModule
import SwitchboardCore

/// This server's copy of the stream's current state, kept by following the stream (and by
/// applying its own acknowledged writes at once, so it reads its writes): what leasing picks
/// from, what lists and depths read, what maintenance scans. It decides nothing on its own —
/// every transition is a compare-and-set on the subjects' sequences it read here, so a copy that
/// is behind only costs a refused write and a re-read.
///
/// Per queue a heap of ready tasks (priority desc, order asc) and a heap of due times; one heap
/// of lease expiries; one of finish times. Heap entries are not removed from the middle: an entry
/// whose task has moved on is stale and skipped when popped (as in the memory backend).
struct NATSTaskIndex {
    struct Known {
        var stored: NATSStoredTask
        var sequence: UInt64
        var record: TaskRecord { stored.record }
    }

    struct ReadyRef: Comparable {
        var priority: UInt8
        var order: UInt64
        var id: String

        static func < (a: ReadyRef, b: ReadyRef) -> Bool { a.priority != b.priority ? a.priority > b.priority : a.order < b.order }
    }

    struct DueRef: Comparable {
        var at: Timestamp
        var id: String

        static func < (a: DueRef, b: DueRef) -> Bool { a.at != b.at ? a.at < b.at : a.id < b.id }
    }

    struct LeaseRef: Comparable {
        var expiresAt: Timestamp
        var id: String
        var leaseID: String

        static func < (a: LeaseRef, b: LeaseRef) -> Bool { a.expiresAt < b.expiresAt }
    }

    struct FinishedRef: Comparable {
        var at: Timestamp
        var order: UInt64
        var id: String

        static func < (a: FinishedRef, b: FinishedRef) -> Bool { a.at != b.at ? a.at < b.at : a.order < b.order }
    }

    struct QueueState {
        var paused = false
        var pausedSequence: UInt64 = 0
        var ready = Heap<ReadyRef>()
        var due = Heap<DueRef>()
        /// Pending tasks by when they became ready, for the queue's latency.
        var oldest = OldestReady<String>()
        var counts = [Int](repeating: 0, count: TaskStatus.allCases.count)

        func info(name: String) -> QueueInfo {
            var depth: [TaskStatus: Int] = [:]
            for status in TaskStatus.allCases { depth[status] = counts[status.index] }
            return QueueInfo(name: name, paused: paused, depth: depth)
        }
    }

    private(set) var tasks: [String: Known] = [:]
    /// Tasks whose subject holds a delete marker, by its sequence (older writes arriving late
    /// must not bring them back).
    private(set) var deletedTasks: [String: UInt64] = [:]
    private(set) var queues: [String: QueueState] = [:]
    private(set) var keys: [String: (holder: NATSKeyHolder?, sequence: UInt64)] = [:]
    private(set) var idempotency: [String: (entry: NATSIdempotencyEntry?, sequence: UInt64)] = [:]
    private var leases = Heap<LeaseRef>()
    private var finished = Heap<FinishedRef>()
    /// Ready tasks waiting for their lock key, in the order they were found.
    private var parked: [String: [ReadyRef]] = [:]
    /// (created order, id), sorted: paging in creation order.
    private var byCreation: [(order: UInt64, id: String)] = []
    private var byCreationStale = 0
    /// Tasks per run, and runs by their newest task (the list of recent runs).
    private var runSizes: [String: Int] = [:]
    private(set) var runs = RunRecency()
    /// Tasks and keys a lease of this server is writing now, so that two leases here do not race.
    private var reservedTasks: Set<String> = []
    private var reservedKeys: Set<String> = []
    /// Queues that gained ready or due work since last asked.
    private var gained: Set<String> = []
    /// Completed and cancelled tasks held (what retention's `keepAtMost` counts).
    private var finishedCount = 0
    /// The last sequence the follower delivered: no write older than it can arrive any more
    /// except by a re-read, which returns a subject's latest.
    private var followedThrough: UInt64 = 0
    private var followedSincePrune = 0

    // MARK: Applying writes

    /// A task subject's write (nil: a delete marker) at `sequence`; older than what is known: ignored.
    mutating func applyTask(_ id: String, _ written: NATSStoredTask?, at sequence: UInt64) {
        if let known = tasks[id], known.sequence >= sequence { return }
        if let deleted = deletedTasks[id], deleted >= sequence { return }
        let old = tasks[id]
        if let old {
            queues[old.record.queue]?.counts[old.record.status.index] -= 1
            if old.record.status.isRetained { finishedCount -= 1 }
        }
        guard var stored = written else {
            tasks[id] = nil
            deletedTasks[id] = sequence
            if let old {
                noteCreationRemoval()
                if let run = old.record.runID {
                    runSizes[run, default: 1] -= 1
                    if runSizes[run] == 0 {
                        runSizes[run] = nil
                        runs.forget(run)
                    }
                }
            }
            return
        }
        deletedTasks[id] = nil
        stored.resolveOrders(at: sequence)
        let record = stored.record
        tasks[id] = Known(stored: stored, sequence: sequence)
        if queues[record.queue] == nil { queues[record.queue] = QueueState() }
        queues[record.queue]!.counts[record.status.index] += 1
        if record.status.isRetained { finishedCount += 1 }
        if old == nil, let created = stored.createdOrder { insertCreation(created, id) }
        if old == nil, let run = record.runID {
            runSizes[run, default: 0] += 1
            runs.note(run, sequence: stored.createdOrder ?? sequence)
        }
        let unchanged = old.map { $0.record.status == record.status && $0.stored.readyOrder == stored.readyOrder && $0.stored.dueAt == stored.dueAt } ?? false
        switch record.status {
        case .pending:
            guard !unchanged else { break }
            let order = stored.readyOrder ?? sequence
            queues[record.queue]!.ready.insert(ReadyRef(priority: record.priority, order: order, id: id))
            let tasks = self.tasks
            queues[record.queue]!.oldest.insert(
                since: stored.readySince, order: order, ref: id, liveCount: queues[record.queue]!.counts[TaskStatus.pending.index],
                isLive: { Self.isWaiting($0, in: tasks) })
            gained.insert(record.queue)
        case .scheduled, .retrying:
            guard !unchanged, let due = stored.dueAt else { break }
            queues[record.queue]!.due.insert(DueRef(at: due, id: id))
            gained.insert(record.queue)
        case .running:
            if let lease = stored.leaseID, let expiry = record.leaseExpiresAt { leases.insert(LeaseRef(expiresAt: expiry, id: id, leaseID: lease)) }
        case .completed, .cancelled:
            if old?.record.status != record.status { finished.insert(FinishedRef(at: record.finishedAt ?? record.updatedAt, order: stored.createdOrder ?? sequence, id: id)) }
        case .dead:
            break
        }
    }

    mutating func applyKey(_ key: String, _ holder: NATSKeyHolder?, at sequence: UInt64) {
        if let known = keys[key], known.sequence >= sequence { return }
        keys[key] = (holder, sequence)
        if holder == nil { unpark(key) }
    }

    /// The subject was found empty (its marker outlived its TTL): forget it, unless something
    /// newer than `sequence` already arrived.
    mutating func forgetKey(_ key: String) {
        if keys[key]?.holder == nil { keys[key] = nil; unpark(key) }
    }

    mutating func applyIdempotency(_ key: String, _ entry: NATSIdempotencyEntry?, at sequence: UInt64) {
        if let known = idempotency[key], known.sequence >= sequence { return }
        idempotency[key] = (entry, sequence)
    }

    mutating func forgetIdempotency(_ key: String) { idempotency[key] = nil }

    mutating func forgetDeletedTask(_ id: String) { deletedTasks[id] = nil }

    mutating func applyQueue(_ name: String, paused: Bool, at sequence: UInt64) {
        if queues[name] == nil { queues[name] = QueueState() }
        guard queues[name]!.pausedSequence < sequence else { return }
        let wasPaused = queues[name]!.paused
        queues[name]!.paused = paused
        queues[name]!.pausedSequence = sequence
        if wasPaused, !paused { gained.insert(name) }
    }

    /// Takes over the reservations of leases in flight from the copy this one replaces.
    mutating func adoptReservations(from other: NATSTaskIndex) {
        reservedTasks = other.reservedTasks
        reservedKeys = other.reservedKeys
    }

    /// Queues that gained work since the last call.
    mutating func takeGained() -> Set<String> {
        defer { gained = [] }
        return gained
    }

    // MARK: Reading

    /// Whether this copy has the subject at `sequence` or later (a write of this server's own,
    /// coming back from the follower).
    func knows(_ kind: NATSTaskSubjects.Kind, _ name: String, atLeast sequence: UInt64) -> Bool {
        switch kind {
        case .task: (tasks[name]?.sequence ?? deletedTasks[name] ?? 0) >= sequence
        case .lockKey: (keys[name]?.sequence ?? 0) >= sequence
        case .idempotency: (idempotency[name]?.sequence ?? 0) >= sequence
        case .queue: (queues[name]?.pausedSequence ?? 0) >= sequence
        case .clock: true
        }
    }

    func known(_ id: String) -> Known? { tasks[id] }

    /// The sequence a compare-and-set on the task's subject expects (0: never written, as far as
    /// this copy knows).
    func taskSequence(_ id: String) -> UInt64 { tasks[id]?.sequence ?? deletedTasks[id] ?? 0 }

    func keySequence(_ key: String) -> UInt64 { keys[key]?.sequence ?? 0 }

    func idempotencySequence(_ key: String) -> UInt64 { idempotency[key]?.sequence ?? 0 }

    mutating func queueInfos() -> [QueueInfo] { queues.keys.sorted().map { queueInfo($0) } }

    mutating func queueInfo(_ name: String) -> QueueInfo {
        guard queues[name] != nil else { return QueueState().info(name: name) }
        var info = queues[name]!.info(name: name)
        let tasks = self.tasks
        info.oldestPendingSince = queues[name]!.oldest.oldest { Self.isWaiting($0, in: tasks) }
        return info
    }

    private static func isWaiting(_ entry: OldestReady<String>.Entry, in tasks: [String: Known]) -> Bool {
        guard let known = tasks[entry.ref] else { return false }
        return known.record.status == .pending && known.stored.readyOrder == entry.order && known.stored.readySince == entry.since
    }

    /// Tasks in creation order after `cursor` (dead ones in burial order when listing dead).
    func page(_ filter: TaskFilter, after cursor: UInt64?, limit: Int) -> (items: [TaskRecord], next: UInt64?) {
        if filter.status == .dead {
            let dead = tasks.values.filter { $0.record.status == .dead && filter.matches($0.record) }
                .map { (order: $0.sequence, record: $0.record) }.filter { cursor == nil || $0.order > cursor! }
                .sorted { $0.order < $1.order }
            let items = dead.prefix(limit)
            return (items.map(\.record), dead.count > limit ? items.last?.order : nil)
        }
        var low = 0
        if let cursor {
            var high = byCreation.count
            while low < high {
                let mid = (low + high) / 2
                if byCreation[mid].order <= cursor { low = mid + 1 } else { high = mid }
            }
        }
        var items: [TaskRecord] = []
        var last: UInt64?
        for entry in byCreation[low...] {
            guard let known = tasks[entry.id], known.stored.createdOrder == entry.order, filter.matches(known.record) else { continue }
            if items.count == limit { return (items, last) }
            items.append(known.record)
            last = entry.order
        }
        return (items, nil)
    }

    /// Every dead task that matches.
    func dead(matching filter: TaskFilter) -> [Known] {
        tasks.values.filter { $0.record.status == .dead && filter.matches($0.record) }.sorted { $0.sequence < $1.sequence }
    }

    func nextDeadline(queues names: [String]?) -> Timestamp? {
        var earliest: Timestamp?
        func consider(_ t: Timestamp?) {
            if let t, earliest == nil || t < earliest! { earliest = t }
        }
        if let names {
            for name in names where queues[name]?.paused == false { consider(queues[name]?.due.min?.at) }
        } else {
            for queue in queues.values { consider(queue.due.min?.at) }
            consider(leases.min?.expiresAt)
        }
        return earliest
    }

    // MARK: Choosing work

    private func isLive(_ ref: ReadyRef) -> Bool {
        guard let known = tasks[ref.id] else { return false }
        return known.record.status == .pending && known.stored.readyOrder == ref.order
    }

    /// Up to `count` ready tasks of `queues` in lease order, reserved for this server's lease
    /// until `settle`: a task whose lock key is held (or being taken here) is parked on the key.
    mutating func pickReady(queues names: [String], count: Int) -> [Known] {
        var picked: [Known] = []
        for name in names where picked.count < count {
            guard queues[name]?.paused == false else { continue }
            while picked.count < count, let ref = queues[name]!.ready.popMin() {
                guard isLive(ref), !reservedTasks.contains(ref.id), let known = tasks[ref.id] else { continue }
                if let key = known.record.lockKey {
                    guard !reservedKeys.contains(key), keys[key]?.holder == nil else {
                        parked[key, default: []].append(ref)
                        continue
                    }
                    reservedKeys.insert(key)
                }
                reservedTasks.insert(ref.id)
                picked.append(known)
            }
        }
        return picked
    }

    /// Ends a reservation; a task that was not leased goes back among the ready (if it still is).
    mutating func settle(_ known: Known, leased: Bool) {
        reservedTasks.remove(known.record.id)
        if !leased, let current = tasks[known.record.id], current.record.status == .pending, let order = current.stored.readyOrder {
            queues[current.record.queue]?.ready.insert(ReadyRef(priority: current.record.priority, order: order, id: current.record.id))
        }
        if let key = known.record.lockKey {
            reservedKeys.remove(key)
            if keys[key]?.holder == nil { unpark(key) }
        }
    }

    private mutating func unpark(_ key: String) {
        guard let refs = parked.removeValue(forKey: key) else { return }
        for ref in refs where isLive(ref) {
            let queue = tasks[ref.id]!.record.queue
            queues[queue]?.ready.insert(ref)
            gained.insert(queue)
        }
    }

    /// Scheduled and retrying tasks of `queues` (all when nil) due by `now`.
    mutating func due(queues names: [String]?, now: Timestamp) -> [Known] {
        var found: [Known] = []
        for name in names ?? Array(queues.keys) where queues[name] != nil {
            while let top = queues[name]!.due.min, top.at <= now {
                _ = queues[name]!.due.popMin()
                guard let known = tasks[top.id], known.record.status == .scheduled || known.record.status == .retrying,
                    known.stored.dueAt == top.at
                else { continue }
                found.append(known)
            }
        }
        return found
    }

    /// Puts a due task back (its promotion failed for a reason other than someone else's write).
    mutating func restoreDue(_ known: Known) {
        if let due = known.stored.dueAt { queues[known.record.queue]?.due.insert(DueRef(at: due, id: known.record.id)) }
    }

    /// Running tasks whose lease expired by `now`, at most `limit`.
    mutating func expired(now: Timestamp, limit: Int) -> [Known] {
        var found: [Known] = []
        while found.count < limit, let top = leases.min, top.expiresAt <= now {
            _ = leases.popMin()
            guard let known = tasks[top.id], known.record.status == .running, known.stored.leaseID == top.leaseID,
                known.record.leaseExpiresAt == top.expiresAt
            else { continue }
            found.append(known)
        }
        return found
    }

    mutating func restoreLease(_ known: Known) {
        if let lease = known.stored.leaseID, let expiry = known.record.leaseExpiresAt {
            leases.insert(LeaseRef(expiresAt: expiry, id: known.record.id, leaseID: lease))
        }
    }

    /// Finished (completed, cancelled) tasks to drop: finished before the cut, or beyond `keepAtMost`.
    mutating func finishedToDrop(before cut: Timestamp, keepAtMost: Int) -> [Known] {
        var count = finishedCount
        var found: [Known] = []
        while let top = finished.min {
            guard let known = tasks[top.id], known.record.status == .completed || known.record.status == .cancelled,
                (known.record.finishedAt ?? known.record.updatedAt) == top.at
            else {
                _ = finished.popMin()
                continue
            }
            guard top.at < cut || count > keepAtMost else { break }
            _ = finished.popMin()
            found.append(known)
            count -= 1
        }
        return found
    }

    mutating func restoreFinished(_ known: Known) {
        finished.insert(FinishedRef(at: known.record.finishedAt ?? known.record.updatedAt, order: known.stored.createdOrder ?? 0, id: known.record.id))
    }

    /// Idempotency keys past their expiry by `now`.
    func expiredIdempotency(now: Timestamp) -> [(key: String, sequence: UInt64)] {
        idempotency.compactMap { key, value in
            guard let entry = value.entry, entry.expiresAt <= now else { return nil }
            return (key, value.sequence)
        }
    }

    // MARK: Forgetting markers

    /// Notes that the follower delivered `sequence`; now and then forgets the markers it holds
    /// (dropped tasks, free keys, cleared idempotency keys) that the follower has passed: nothing
    /// older can arrive for them, and a compare-and-set that finds a marker still in the stream is
    /// refused, re-reads it and goes on. Keeps the copy's size to what the stream holds.
    mutating func noteFollowed(_ sequence: UInt64) {
        followedThrough = max(followedThrough, sequence)
        followedSincePrune += 1
        guard followedSincePrune >= 4096 else { return }
        followedSincePrune = 0
        let through = followedThrough
        deletedTasks = deletedTasks.filter { $0.value > through }
        keys = keys.filter { $0.value.holder != nil || $0.value.sequence > through }
        idempotency = idempotency.filter { $0.value.entry != nil || $0.value.sequence > through }
    }

    // MARK: Creation order

    private mutating func insertCreation(_ order: UInt64, _ id: String) {
        if let last = byCreation.last, last.order > order {
            var low = 0
            var high = byCreation.count
            while low < high {
                let mid = (low + high) / 2
                if byCreation[mid].order < order { low = mid + 1 } else { high = mid }
            }
            byCreation.insert((order, id), at: low)
        } else {
            byCreation.append((order, id))
        }
    }

    private mutating func noteCreationRemoval() {
        byCreationStale += 1
        if byCreationStale >= 64, byCreationStale >= byCreation.count / 2 {
            byCreation.removeAll { tasks[$0.id]?.stored.createdOrder != $0.order }
            byCreationStale = 0
        }
    }
}


extension TaskStatus {
    /// Kept until retention drops it.
    var isRetained: Bool { self == .completed || self == .cancelled }
}
