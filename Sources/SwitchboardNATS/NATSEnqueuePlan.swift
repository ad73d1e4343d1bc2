import SwitchboardCore
import SwitchboardNATSClient
import Synchronization

/// What an enqueue writes, worked out against this server's copy of the stream: which tasks
/// exist already (by id or by a live idempotency key, also earlier in the same batch), and the
/// compare-and-set writes that create the others — each new task with its idempotency key.
struct NATSEnqueuePlan {
    private enum Outcome {
        case existing(TaskRecord)
        case created(NATSStoredTask)
        case sameAs(Int)
    }

    private var outcomesByTask: [Outcome] = []
    private(set) var writes: [NATSTaskBackend.Write] = []
    /// The writes of each created task, which must share an atomic batch.
    private var groups: [Range<Int>] = []
    /// Tasks an idempotency key names that this copy does not know (written by another server
    /// just now, or dropped by retention).
    private(set) var unknown: [String] = []

    init(_ tasks: [NewTask], index: NATSTaskIndex, now: Timestamp, ignoringMissing: Bool = false) {
        var byID: [String: Int] = [:]
        var byKey: [String: Int] = [:]
        for (position, new) in tasks.enumerated() {
            let id = new.record.id
            var liveKey: String?
            if let key = new.idempotencyKey, let expiresAt = new.idempotencyExpiresAt {
                if let earlier = byKey[key] {
                    outcomesByTask.append(.sameAs(earlier))
                    continue
                }
                if let entry = index.idempotency[key]?.entry, entry.expiresAt > now {
                    if let known = index.known(entry.taskID) {
                        outcomesByTask.append(.existing(known.record))
                        continue
                    }
                    if !ignoringMissing { unknown.append(entry.taskID) }
                }
                liveKey = expiresAt > now ? key : nil
            }
            if let earlier = byID[id] {
                outcomesByTask.append(.sameAs(earlier))
                continue
            }
            if let known = index.known(id) {
                outcomesByTask.append(.existing(known.record))
                continue
            }
            var record = new.record
            if record.status == .scheduled, (record.notBefore ?? now) <= now { record.status = .pending }
            var stored = NATSStoredTask(record: record, readySince: now)
            if record.status == .scheduled { stored.dueAt = record.notBefore }
            let start = writes.count
            if let key = liveKey, let expiresAt = new.idempotencyExpiresAt {
                writes.append(
                    NATSTaskBackend.Write(
                        change: .idempotency(key, NATSIdempotencyEntry(taskID: id, expiresAt: expiresAt)),
                        expected: index.idempotencySequence(key), ttl: .milliseconds(expiresAt.milliseconds - now.milliseconds) + .seconds(1)))
                byKey[key] = position
            }
            writes.append(NATSTaskBackend.Write(change: .task(id, stored), expected: index.taskSequence(id)))
            groups.append(start..<writes.count)
            byID[id] = position
            outcomesByTask.append(.created(stored))
        }
    }

    /// The writes in atomic batches of at most the server's limit, a task's writes together.
    /// A batch over the limit is stored chunk by chunk (README: "NATS backend").
    func chunks() -> [[NATSTaskBackend.Write]] {
        var chunks: [[NATSTaskBackend.Write]] = []
        var current: [NATSTaskBackend.Write] = []
        for group in groups {
            if current.count + group.count > JetStream.maxBatchMessages {
                chunks.append(current)
                current = []
            }
            current += writes[group]
        }
        if !current.isEmpty { chunks.append(current) }
        return chunks
    }

    func stillUnknown(in index: NATSTaskIndex) -> Bool {
        unknown.contains { index.known($0) == nil }
    }

    /// `storedHere`: tasks an earlier round of the same enqueue stored (created, not found).
    func outcomes(storedHere: Set<String> = []) -> [EnqueueOutcome] {
        outcomesByTask.map { outcome in
            switch outcome {
            case .existing(let record): EnqueueOutcome(task: record, created: storedHere.contains(record.id))
            case .created(let stored): EnqueueOutcome(task: stored.record, created: true)
            case .sameAs(let earlier):
                switch outcomesByTask[earlier] {
                case .existing(let record): EnqueueOutcome(task: record, created: false)
                case .created(let stored): EnqueueOutcome(task: stored.record, created: false)
                case .sameAs: fatalError("a task refers to the first of its duplicates, which is never itself a duplicate")
                }
            }
        }
    }
}
