import Logging
import NIOCore
import SwitchboardCore
import SwitchboardJSON
import SwitchboardNATSClient
import Synchronization

/// Tasks on NATS JetStream, shared by every server on the NATS system (DESIGN.md §1 on a stream).
///
/// The stream `<prefix>_tasks` holds the current state, one subject per task, idempotency key,
/// lock key and queue (`NATSTaskSubjects`). Every transition is one write, or one atomic batch of
/// writes (server 2.12+), each a compare-and-set on its subject's last sequence: a stale lease id
/// loses the compare-and-set and is refused (409), whatever JetStream acks would say. A
/// lock-keyed lease writes the key's holder and the task together — the key write's sequence is
/// the fencing token — and ending the lease frees the key in the same batch, so no crash leaves
/// a key held by nobody.
///
/// Each server follows the stream (`NATSTaskIndex`) to know what is ready, due and expired
/// without asking: leasing picks from that copy and writes; a copy that is behind costs a refused
/// write and a re-read, never a wrong transition. Following it also wakes this server's waiting
/// leasers for work other servers made ready.
public final class NATSTaskBackend: TaskBackend, DeadLetterAdministration, QueuePausing, FinishedTaskRetention, RunListing, DurabilityReporting,
    ReadyEventSource, ClockReference
{
    public let client: NATSClient
    public let replicas: Int
    public var streamName: String { subjects.stream }
    let jetStream: JetStream
    let subjects: NATSTaskSubjects
    private let errorHistoryLimit: Int
    private let logger: Logger
    private let index = Mutex(NATSTaskIndex())
    /// A copy being built from the stream's start (see `markerTTL`), given every write the
    /// current one gets, until it has caught up and replaces it.
    private let rebuilding = Mutex<NATSTaskIndex?>(nil)
    /// When the follower last delivered something.
    private let lastHeard = Mutex(ContinuousClock.now)
    private let following = Mutex<Task<Void, Never>?>(nil)
    private let listeners = Mutex<(next: Int, handlers: [Int: @Sendable (ReadyEvent) -> Void])>((0, [:]))

    /// How long a delete marker (a dropped task, a freed key) stays: every server following the
    /// stream sees it long before. A follower that was silent for half of it may have missed
    /// markers that are gone now, so it reads the whole stream again into a new copy.
    public let markerTTL: Duration
    /// Atomic batches (2.12) and per-message TTLs (2.11) are what this backend is built on.
    public static let minimumServerVersion = (major: 2, minor: 12)
    /// Rounds of compare-and-set before a transition gives up (503) under contention.
    static let maxRounds = 16

    public init(
        client: NATSClient, prefix: String = "sb", replicas: Int = 1, errorHistoryLimit: Int = TaskLimits().maxErrorHistory,
        markerTTL: Duration = .seconds(3600), logger: Logger = Logger(label: "switchboard.nats")
    ) {
        self.client = client
        self.markerTTL = markerTTL
        self.replicas = replicas
        self.errorHistoryLimit = errorHistoryLimit
        self.logger = logger
        subjects = NATSTaskSubjects(prefix: prefix)
        var jetStream = JetStream(client: client)
        jetStream.timeout = .seconds(10)
        self.jetStream = jetStream
    }

    /// Makes (or updates) the stream and loads its state; returns once this server's copy has
    /// caught up with what was stored when it started. Call once, before anything else.
    public func start() async throws {
        _ = try await call {
            try await jetStream.createOrUpdateStream([
                "name": subjects.stream, "subjects": subjects.patterns, "max_msgs_per_subject": 1, "discard": "old",
                "storage": "file", "num_replicas": replicas, "allow_direct": true, "allow_msg_ttl": true, "allow_atomic": true,
                "max_age": 0, "duplicate_window": 1_000_000_000,
            ])
        }
        let caughtUp = Latch()
        let stopped = Mutex<(any Error)?>(nil)
        // Holds the backend until `close()`.
        let task = Task { [self] in
            // A follower that ends before it caught up fails `start`.
            defer { caughtUp.open() }
            while !Task.isCancelled {
                do {
                    try await jetStream.follow(stream: subjects.stream) { event in
                        switch event {
                        case .message(let message, _):
                            self.lastHeard.withLock { $0 = .now }
                            self.applyFollowed(message)
                        case .caughtUp:
                            self.lastHeard.withLock { $0 = .now }
                            self.finishRebuilding()
                            caughtUp.open()
                        case .restarted:
                            if ContinuousClock.now - self.lastHeard.withLock({ $0 }) > self.markerTTL / 2 { throw Rebuild() }
                            self.notify(.connected)
                        }
                    }
                    return
                } catch is Rebuild {
                    logger.notice("reading the task stream again from its start: this server was cut off for longer than delete markers may last")
                    rebuilding.withLock { $0 = NATSTaskIndex() }
                } catch {
                    logger.error("stopped following the task stream", metadata: ["error": "\(error)"])
                    stopped.withLock { $0 = error }
                    return
                }
            }
        }
        following.withLock { $0 = task }
        await caughtUp.wait()
        if let error = stopped.withLock({ $0 }) { throw Self.unavailable(error) }
    }

    /// Stops following the stream (the client stays open: it is the caller's). Until then the
    /// follower holds the backend.
    public func close() {
        following.withLock { $0?.cancel() }
    }

    // MARK: Following

    /// A stored message read from the stream: by the follower (`followed`, in stream order) or
    /// by a re-read.
    private func applyFollowed(_ message: JetStream.StoredMessage, followed: Bool = true) {
        guard let (kind, name) = subjects.parse(message.subject) else { return }
        // This server's own writes come back too: known already, they need no decoding.
        if followed, index.withLock({ index in rebuilding.withLock { $0 == nil } && index.knows(kind, name, atLeast: message.sequence) }) {
            apply([], followed: message.sequence)
            return
        }
        do {
            let change: Change
            let empty = message.payload.readableBytes == 0
            switch kind {
            case .task: change = .task(name, empty ? nil : try NATSStoredTask(decoding: message.payload))
            case .lockKey: change = .key(name, try NATSKeyHolder.decode(message.payload))
            case .idempotency: change = .idempotency(name, try NATSIdempotencyEntry.decode(message.payload))
            case .queue: change = .queue(name, paused: Self.isPaused(message.payload))
            case .clock: return
            }
            apply([(change, message.sequence)], followed: followed ? message.sequence : nil)
        } catch {
            logger.warning("skipped a malformed write in the task stream", metadata: ["subject": "\(message.subject)", "error": "\(error)"])
        }
    }

    private struct Rebuild: Error {}

    /// Applies writes to the copy (and to the one being rebuilt). Lock order: `index`, then `rebuilding`.
    /// `followed`: the sequence the follower delivered, in stream order.
    private func apply(_ changes: [(Change, UInt64)], followed: UInt64? = nil) {
        let gained = index.withLock { index in
            Self.apply(changes, to: &index)
            rebuilding.withLock { if $0 != nil { Self.apply(changes, to: &$0!) } }
            if let followed {
                index.noteFollowed(followed)
                rebuilding.withLock { $0?.noteFollowed(followed) }
            }
            return index.takeGained()
        }
        guard !gained.isEmpty else { return }
        for queue in gained { notify(.queue(queue)) }
    }

    private static func apply(_ changes: [(Change, UInt64)], to index: inout NATSTaskIndex) {
        for (change, sequence) in changes {
            switch change {
            case .task(let id, let stored): index.applyTask(id, stored, at: sequence)
            case .key(let key, let holder): index.applyKey(key, holder, at: sequence)
            case .idempotency(let key, let entry): index.applyIdempotency(key, entry, at: sequence)
            case .queue(let name, let paused): index.applyQueue(name, paused: paused, at: sequence)
            }
        }
    }

    /// The rebuilt copy has caught up: it replaces the current one, keeping the reservations of
    /// leases in flight, and every waiting leaser looks again.
    private func finishRebuilding() {
        let swapped = index.withLock { index in
            guard var fresh = rebuilding.withLock({ rebuilt in
                defer { rebuilt = nil }
                return rebuilt
            }) else { return false }
            fresh.adoptReservations(from: index)
            _ = fresh.takeGained()
            index = fresh
            return true
        }
        if swapped { notify(.connected) }
    }

    /// For tests: a write the stream never had (a copy gone wrong), applied to this server's copy.
    func applyUnfollowed(_ change: Change, at sequence: UInt64) {
        apply([(change, sequence)])
    }

    private func notify(_ event: ReadyEvent) {
        for handler in listeners.withLock({ Array($0.handlers.values) }) { handler(event) }
    }

    public func followReadyEvents(_ handle: @escaping @Sendable (ReadyEvent) -> Void) async throws {
        let id = listeners.withLock { l in
            l.next += 1
            l.handlers[l.next] = handle
            return l.next
        }
        defer { _ = listeners.withLock { $0.handlers.removeValue(forKey: id) } }
        handle(.connected)
        // Events come from the stream's follower; this call only has to last.
        let forever = Latch()
        await withTaskCancellationHandler { await forever.wait() } onCancel: { forever.open() }
    }

    // MARK: Writing

    /// One subject's new state.
    enum Change: Sendable {
        case task(String, NATSStoredTask?)
        case key(String, NATSKeyHolder?)
        case idempotency(String, NATSIdempotencyEntry?)
        case queue(String, paused: Bool)
    }

    /// A change and the compare-and-set it makes (the subject's last sequence, 0: empty; nil: none).
    struct Write: Sendable {
        var change: Change
        var expected: UInt64?
        /// For an idempotency key: how long the stream keeps it.
        var ttl: Duration?
    }

    /// Someone wrote one of the subjects first.
    struct Conflict: Error {}

    private func message(_ write: Write) -> JetStream.BatchMessage {
        var payload = ByteBuffer()
        var ttl = write.ttl
        let subject: String
        switch write.change {
        case .task(let id, let stored):
            subject = subjects.subject(.task, id)
            if let stored { payload = stored.encoded() } else { ttl = markerTTL }
        case .key(let key, let holder):
            subject = subjects.subject(.lockKey, key)
            if let holder { payload = holder.encoded() } else { ttl = markerTTL }
        case .idempotency(let key, let entry):
            subject = subjects.subject(.idempotency, key)
            if let entry { payload = entry.encoded() } else { ttl = markerTTL }
        case .queue(let name, let paused):
            subject = subjects.subject(.queue, name)
            payload = ByteBuffer(string: paused ? #"{"paused":true}"# : #"{"paused":false}"#)
        }
        let headers = ttl.map { NATSHeaders([("Nats-TTL", "\(max(1, ($0.wholeMilliseconds + 999) / 1000))s")]) }
        return JetStream.BatchMessage(subject: subject, payload: payload, expectedLastSubjectSequence: write.expected, headers: headers)
    }

    private func subject(of change: Change) -> (NATSTaskSubjects.Kind, String) {
        switch change {
        case .task(let id, _): (.task, id)
        case .key(let key, _): (.lockKey, key)
        case .idempotency(let key, _): (.idempotency, key)
        case .queue(let name, _): (.queue, name)
        }
    }

    /// Writes all of `writes` at once (one message, or one atomic batch), applies them to this
    /// server's copy and returns their sequences; `Conflict` when a compare-and-set was refused.
    @discardableResult
    func commit(_ writes: [Write]) async throws -> [UInt64] {
        let ack: JetStream.PubAck
        do {
            ack = try await jetStream.publishAtomically(writes.map(message))
        } catch let error as JetStreamError
            where error.errorCode == JetStreamError.wrongLastSequence || error.errorCode == JetStreamError.wrongLastSequenceConstant
        {
            throw Conflict()
        } catch {
            throw Self.unavailable(error)
        }
        let first = ack.sequence - UInt64(writes.count - 1)
        let sequences = writes.indices.map { first + UInt64($0) }
        apply(zip(writes.map(\.change), sequences).map { ($0, $1) })
        return sequences
    }

    /// Reads the subjects again from the stream's leader (after a refused compare-and-set).
    func refresh(_ changes: [Change]) async throws {
        try await refresh(subjects: changes.map(subject(of:)))
    }

    func refresh(subjects wanted: [(NATSTaskSubjects.Kind, String)]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (kind, name) in wanted {
                group.addTask { [self] in
                    let found = try await call {
                        try await jetStream.lastMessageFromLeader(stream: subjects.stream, subject: subjects.subject(kind, name))
                    }
                    if let found {
                        applyFollowed(found, followed: false)
                    } else {
                        // Empty: a marker outlived its TTL (a live task never vanishes without one).
                        func forget(_ index: inout NATSTaskIndex) {
                            switch kind {
                            case .lockKey: index.forgetKey(name)
                            case .idempotency: index.forgetIdempotency(name)
                            case .task: index.forgetDeletedTask(name)
                            case .queue, .clock: break
                            }
                        }
                        index.withLock { index in
                            forget(&index)
                            rebuilding.withLock { if $0 != nil { forget(&$0!) } }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    private func call<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SwitchboardError {
            throw error
        } catch {
            throw Self.unavailable(error)
        }
    }

    static func unavailable(_ error: any Error) -> SwitchboardError {
        if let error = error as? SwitchboardError { return error }
        return .unavailable("NATS: \(error)")
    }

    static func isPaused(_ payload: ByteBuffer) -> Bool {
        payload.readableBytesView.starts(with: Array(#"{"paused":true"#.utf8))
    }

    private static let contention = SwitchboardError.unavailable("NATS: too many concurrent writes to the same task; try again")

    // MARK: Lease ids

    /// 32 random hex digits and the task id, as in the other backends.
    static func makeLeaseID(taskID: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let a = String(generator.next(), radix: 16)
        let b = String(generator.next(), radix: 16)
        return String(repeating: "0", count: 16 - a.count) + a + String(repeating: "0", count: 16 - b.count) + b + taskID
    }

    static func taskID(ofLease leaseID: String) throws(SwitchboardError) -> String {
        let utf8 = leaseID.utf8
        guard utf8.count > 32 else { throw .notFound("no lease \(leaseID)") }
        return String(leaseID[utf8.index(utf8.startIndex, offsetBy: 32)...])
    }

    static func staleLease(_ leaseID: String) -> SwitchboardError {
        .conflict("lease \(leaseID) is no longer held: the task was re-leased, finished or its lease expired")
    }

    // MARK: TaskTransitions

    public func enqueue(_ tasks: [NewTask], now: Timestamp) async throws -> [EnqueueOutcome] {
        var keysNameGoneTasks = false
        // Tasks this call stored, should a later chunk or round find them as existing.
        var stored: Set<String> = []
        for _ in 0..<Self.maxRounds {
            let plan = index.withLock { NATSEnqueuePlan(tasks, index: $0, now: now, ignoringMissing: keysNameGoneTasks) }
            if !plan.unknown.isEmpty {
                try await refresh(subjects: plan.unknown.map { (.task, $0) })
                // Still unknown after asking the leader: dropped by retention, so the key is free.
                keysNameGoneTasks = index.withLock { plan.stillUnknown(in: $0) }
                continue
            }
            do {
                for chunk in plan.chunks() {
                    try await commit(chunk)
                    for write in chunk { if case .task(let id, _) = write.change { stored.insert(id) } }
                    try chunkStored?()
                }
            } catch is Conflict {
                try await refresh(plan.writes.map(\.change))
                continue
            }
            return plan.outcomes(storedHere: stored)
        }
        throw Self.contention
    }

    /// Runs after each chunk of a large enqueue is stored: where a test interrupts one.
    var chunkStored: (@Sendable () throws -> Void)? {
        get { chunkHook.withLock { $0 } }
        set { chunkHook.withLock { $0 = newValue } }
    }
    private let chunkHook = Mutex<(@Sendable () throws -> Void)?>(nil)

    public func lease(queues: [String], maxTasks: Int, workerID: String, terms: LeaseTerms, now: Timestamp) async throws -> [TaskLease] {
        guard maxTasks > 0 else { return [] }
        _ = try await promote(queues: queues, now: now)
        var leased: [TaskLease] = []
        var together = true
        for _ in 0..<Self.maxRounds where leased.count < maxTasks {
            let picked = index.withLock { $0.pickReady(queues: queues, count: maxTasks - leased.count) }
            if picked.isEmpty { break }
            if together, picked.count > 1 {
                if let batch = try await leaseTogether(picked, workerID: workerID, terms: terms, now: now) {
                    leased += batch
                    continue
                }
                // Someone else wrote one of them first: one write each from now on.
                together = false
                continue
            }
            let results = try await withThrowingTaskGroup(of: (Int, TaskLease?).self) { group in
                for (i, known) in picked.enumerated() {
                    group.addTask { [self] in (i, try await leaseOne(known, workerID: workerID, terms: terms, now: now)) }
                }
                var results = [TaskLease?](repeating: nil, count: picked.count)
                for try await (i, lease) in group { results[i] = lease }
                return results
            }
            leased += results.compactMap { $0 }
        }
        return leased
    }

    /// All of `picked` in one atomic batch (one round trip for a worker's whole lease); nil when
    /// someone else wrote one of them first (each is then re-read and given back).
    private func leaseTogether(_ picked: [NATSTaskIndex.Known], workerID: String, terms: LeaseTerms, now: Timestamp) async throws -> [TaskLease]? {
        var writes: [Write] = []
        var leases: [(stored: NATSStoredTask, leaseID: String, keyWrite: Int?)] = []
        let keySequences = index.withLock { index in picked.map { $0.record.lockKey.map { index.keySequence($0) } } }
        for (known, keySequence) in zip(picked, keySequences) {
            var stored = known.stored
            let leaseID = Self.makeLeaseID(taskID: stored.record.id)
            stored.lease(leaseID: leaseID, workerID: workerID, terms: terms, now: now)
            var keyWrite: Int?
            if let key = stored.record.lockKey, let keySequence {
                keyWrite = writes.count
                writes.append(Write(change: .key(key, NATSKeyHolder(taskID: stored.record.id, leaseID: leaseID)), expected: keySequence))
            }
            writes.append(Write(change: .task(stored.record.id, stored), expected: known.sequence))
            leases.append((stored, leaseID, keyWrite))
        }
        guard writes.count <= JetStream.maxBatchMessages else {
            index.withLock { index in for known in picked { index.settle(known, leased: false) } }
            return nil
        }
        do {
            let sequences = try await commit(writes)
            index.withLock { index in for known in picked { index.settle(known, leased: true) } }
            return leases.map { lease in
                TaskLease(
                    leaseID: lease.leaseID, expiresAt: lease.stored.record.leaseExpiresAt!, task: lease.stored.record,
                    readySince: lease.stored.readySince, fencingToken: lease.keyWrite.map { sequences[$0] })
            }
        } catch is Conflict {
            try? await refresh(writes.map(\.change))
            index.withLock { index in for known in picked { index.settle(known, leased: false) } }
            return nil
        } catch {
            index.withLock { index in for known in picked { index.settle(known, leased: false) } }
            throw error
        }
    }

    /// Nil when someone else wrote the task or its key first.
    private func leaseOne(_ known: NATSTaskIndex.Known, workerID: String, terms: LeaseTerms, now: Timestamp) async throws -> TaskLease? {
        var stored = known.stored
        let leaseID = Self.makeLeaseID(taskID: stored.record.id)
        stored.lease(leaseID: leaseID, workerID: workerID, terms: terms, now: now)
        var writes = [Write(change: .task(stored.record.id, stored), expected: known.sequence)]
        if let key = stored.record.lockKey {
            let keySequence = index.withLock { $0.keySequence(key) }
            writes.insert(Write(change: .key(key, NATSKeyHolder(taskID: stored.record.id, leaseID: leaseID)), expected: keySequence), at: 0)
        }
        do {
            let sequences = try await commit(writes)
            index.withLock { $0.settle(known, leased: true) }
            return TaskLease(
                leaseID: leaseID, expiresAt: stored.record.leaseExpiresAt!, task: stored.record, readySince: stored.readySince,
                fencingToken: stored.record.lockKey == nil ? nil : sequences[0])
        } catch is Conflict {
            try? await refresh(writes.map(\.change))
            index.withLock { $0.settle(known, leased: false) }
            return nil
        } catch {
            index.withLock { $0.settle(known, leased: false) }
            throw error
        }
    }

    /// Runs a transition of the task a lease holds: checks the lease against the task as this
    /// server knows it (re-reading once when it does not match, as another server may have
    /// written it), writes by compare-and-set, and starts over when someone wrote first.
    private func withLease<T>(
        _ leaseID: String, _ transition: (NATSStoredTask) throws -> (NATSStoredTask, T)
    ) async throws -> T {
        let id = try Self.taskID(ofLease: leaseID)
        var reread = false
        for _ in 0..<Self.maxRounds {
            let (known, keySequence) = index.withLock { index in
                (index.known(id), index.known(id)?.record.lockKey.map { index.keySequence($0) } ?? 0)
            }
            guard let known, known.record.status == .running, known.stored.leaseID == leaseID else {
                if !reread {
                    reread = true
                    try await refresh(subjects: [(.task, id)])
                    continue
                }
                throw known == nil ? SwitchboardError.notFound("no lease \(leaseID)") : Self.staleLease(leaseID)
            }
            let (stored, result) = try transition(known.stored)
            var writes = [Write(change: .task(id, stored), expected: known.sequence)]
            if let key = stored.record.lockKey, stored.leaseID == nil {
                writes.append(Write(change: .key(key, nil), expected: keySequence))
            }
            do {
                try await commit(writes)
                return result
            } catch is Conflict {
                try await refresh(writes.map(\.change))
                reread = true
            }
        }
        throw Self.contention
    }

    public func heartbeat(leaseID: String, extension terms: LeaseTerms, now: Timestamp) async throws -> HeartbeatStatus {
        try await withLease(leaseID) { stored in
            var stored = stored
            stored.extend(terms, now: now)
            return (stored, HeartbeatStatus(expiresAt: stored.record.leaseExpiresAt!, cancelRequested: stored.cancelRequested))
        }
    }

    public func complete(batch: [LeaseCompletion], now: Timestamp) async throws -> [Result<TaskRecord, any Error>] {
        if batch.count > 1, let together = try await completeTogether(batch, now: now) { return together }
        return try await withThrowingTaskGroup(of: (Int, Result<TaskRecord, any Error>).self) { group in
            for (i, completion) in batch.enumerated() {
                group.addTask { [self] in
                    do {
                        let record: TaskRecord = try await withLease(completion.leaseID) { stored in
                            var stored = stored
                            stored.complete(result: completion.result, now: now)
                            return (stored, stored.record)
                        }
                        return (i, .success(record))
                    } catch let error as SwitchboardError where error.kind != .unavailable {
                        return (i, .failure(error))
                    }
                }
            }
            var results = [Result<TaskRecord, any Error>?](repeating: nil, count: batch.count)
            for try await (i, result) in group { results[i] = result }
            return results.map { $0! }
        }
    }

    /// The whole batch in one atomic batch of writes when this server's copy shows every lease
    /// live (the usual case: a worker reporting what it ran); nil otherwise, or when someone
    /// else wrote one of them first — then each goes on its own, and stands or falls alone.
    private func completeTogether(_ batch: [LeaseCompletion], now: Timestamp) async throws -> [Result<TaskRecord, any Error>]? {
        let found = index.withLock { index -> [(NATSTaskIndex.Known, UInt64)]? in
            var found: [(NATSTaskIndex.Known, UInt64)] = []
            var ids: Set<String> = []
            for completion in batch {
                guard let id = try? Self.taskID(ofLease: completion.leaseID), ids.insert(id).inserted, let known = index.known(id),
                    known.record.status == .running, known.stored.leaseID == completion.leaseID
                else { return nil }
                found.append((known, known.record.lockKey.map { index.keySequence($0) } ?? 0))
            }
            return found
        }
        guard let found, found.count * 2 <= JetStream.maxBatchMessages else { return nil }
        var writes: [Write] = []
        var records: [TaskRecord] = []
        for ((known, keySequence), completion) in zip(found, batch) {
            var stored = known.stored
            stored.complete(result: completion.result, now: now)
            writes.append(Write(change: .task(stored.record.id, stored), expected: known.sequence))
            if let key = stored.record.lockKey { writes.append(Write(change: .key(key, nil), expected: keySequence)) }
            records.append(stored.record)
        }
        do {
            try await commit(writes)
            return records.map { .success($0) }
        } catch is Conflict {
            try? await refresh(writes.map(\.change))
            return nil
        }
    }

    public func fail(
        leaseID: String, message: String, now: Timestamp, decide: @Sendable (TaskRecord) -> FailureDecision
    ) async throws -> TaskRecord {
        try await withLease(leaseID) { stored in
            var stored = stored
            stored.fail(message: message, now: now, historyLimit: errorHistoryLimit, decide: decide)
            return (stored, stored.record)
        }
    }

    public func release(
        leaseID: String, now: Timestamp, maxReleases: Int, decide: @Sendable (TaskRecord) -> FailureDecision
    ) async throws -> TaskRecord {
        try await withLease(leaseID) { stored in
            var stored = stored
            stored.release(now: now, maxReleases: maxReleases, historyLimit: errorHistoryLimit, decide: decide)
            return (stored, stored.record)
        }
    }

    public func cancel(id: String, now: Timestamp) async throws -> TaskRecord {
        var reread = false
        for _ in 0..<Self.maxRounds {
            guard let known = index.withLock({ $0.known(id) }) else {
                if !reread {
                    reread = true
                    try await refresh(subjects: [(.task, id)])
                    continue
                }
                throw SwitchboardError.notFound("no task \(id)")
            }
            var stored = known.stored
            switch stored.record.status {
            case .scheduled, .pending, .retrying:
                stored.cancel(now: now)
            case .running:
                stored.cancelRequested = true
                stored.record.updatedAt = now
            case .cancelled:
                return stored.record
            case .completed, .dead:
                throw SwitchboardError.conflict("task \(id) is already \(stored.record.status.rawValue) and cannot be cancelled")
            }
            do {
                try await commit([Write(change: .task(id, stored), expected: known.sequence)])
                return stored.record
            } catch is Conflict {
                try await refresh(subjects: [(.task, id)])
                reread = true
            }
        }
        throw Self.contention
    }

    // MARK: TaskQueries

    public func task(id: String) async throws -> TaskRecord? {
        if let known = index.withLock({ $0.known(id) }) { return known.record }
        // Perhaps just written by another server, ahead of this one's copy.
        try await refresh(subjects: [(.task, id)])
        return index.withLock { $0.known(id)?.record }
    }

    /// A cursor is a letter and the number to continue from.
    private static func cursorNumber(_ text: String?, prefix: Character) throws(SwitchboardError) -> UInt64? {
        guard let text else { return nil }
        guard text.first == prefix, let value = UInt64(text.dropFirst()) else {
            throw .invalid("cursor '\(text)' is not one this server returned")
        }
        return value
    }

    public func list(_ filter: TaskFilter, page: PageRequest) async throws -> Page<TaskRecord> {
        let cursor = try Self.cursorNumber(page.cursor, prefix: "n")
        let limit = min(max(page.limit, 1), PageRequest.maxLimit)
        let (items, next) = index.withLock { $0.page(filter, after: cursor, limit: limit) }
        return Page(items: items, nextCursor: next.map { "n\($0)" })
    }

    public func queues() async throws -> [QueueInfo] {
        index.withLock { $0.queueInfos() }
    }

    public func runs(page: PageRequest) async throws -> Page<String> {
        let cursor = try Self.cursorNumber(page.cursor, prefix: "c")
        let limit = min(max(page.limit, 1), PageRequest.maxLimit)
        let (runs, next) = index.withLock { $0.runs.page(before: cursor, limit: limit) }
        return Page(items: runs, nextCursor: next.map { "c\($0)" })
    }

    // MARK: TaskMaintenance

    public func promoteDue(now: Timestamp) async throws -> Set<String> {
        try await promote(queues: nil, now: now)
    }

    private func promote(queues names: [String]?, now: Timestamp) async throws -> Set<String> {
        let due = index.withLock { $0.due(queues: names, now: now) }
        guard !due.isEmpty else { return [] }
        return try await withThrowingTaskGroup(of: String?.self) { group in
            for known in due {
                group.addTask { [self] in
                    var stored = known.stored
                    stored.promote(now: now)
                    do {
                        try await commit([Write(change: .task(stored.record.id, stored), expected: known.sequence)])
                        return stored.record.queue
                    } catch is Conflict {
                        // Someone else wrote it first; the re-read brings its state here.
                        do {
                            try await refresh(subjects: [(.task, stored.record.id)])
                        } catch {
                            index.withLock { $0.restoreDue(known) }
                            throw error
                        }
                        return nil
                    } catch {
                        index.withLock { $0.restoreDue(known) }
                        throw error
                    }
                }
            }
            var promoted: Set<String> = []
            for try await queue in group { if let queue { promoted.insert(queue) } }
            return promoted
        }
    }

    public func reapExpiredLeases(now: Timestamp, limit: Int, decide: @Sendable (TaskRecord) -> FailureDecision) async throws -> [TaskRecord] {
        let expired = index.withLock { $0.expired(now: now, limit: limit) }
        guard !expired.isEmpty else { return [] }
        // The group ends before this call returns, so `decide` does not outlive it.
        return try await withoutActuallyEscaping(decide) { decide in try await withThrowingTaskGroup(of: TaskRecord?.self) { group in
            for known in expired {
                group.addTask { [self] in
                    guard let leaseID = known.stored.leaseID else { return nil }
                    let worker = known.record.workerID ?? "unknown"
                    do {
                        return try await withLease(leaseID) { stored in
                            // Heartbeats may have moved the expiry since this server looked.
                            guard let expiry = stored.record.leaseExpiresAt, expiry <= now else { throw Self.staleLease(leaseID) }
                            var stored = stored
                            stored.fail(message: "lease expired: worker \(worker) stopped heartbeating", now: now, historyLimit: errorHistoryLimit, decide: decide)
                            return (stored, stored.record)
                        }
                    } catch let error as SwitchboardError where error.kind == .conflict || error.kind == .notFound {
                        return nil
                    } catch {
                        index.withLock { $0.restoreLease(known) }
                        throw error
                    }
                }
            }
            var reaped: [TaskRecord] = []
            for try await record in group { if let record { reaped.append(record) } }
            return reaped
        } }
    }

    public func nextDeadline(queues: [String]?) async throws -> Timestamp? {
        index.withLock { $0.nextDeadline(queues: queues) }
    }

    public func ping() async throws {
        // Readiness probes time out in a second or so: a client reconnecting answers at once.
        guard client.isConnected else { throw SwitchboardError.unavailable("NATS: not connected (reconnecting)") }
        try await call { _ = try await jetStream.streamInfo(subjects.stream) }
    }

    // MARK: DeadLetterAdministration

    public func requeueDead(id: String, now: Timestamp) async throws -> TaskRecord {
        try await rewriteDead(id: id) { stored in
            var stored = stored
            stored.requeue(now: now)
            return stored
        }!
    }

    public func requeueDead(matching filter: TaskFilter, now: Timestamp) async throws -> Int {
        try await eachDead(matching: filter) { [self] id in
            try await rewriteDead(id: id, missingIsFine: true) { stored in
                var stored = stored
                stored.requeue(now: now)
                return stored
            } != nil
        }
    }

    public func deleteDead(id: String) async throws {
        _ = try await rewriteDead(id: id) { _ in nil }
    }

    public func purgeDead(matching filter: TaskFilter) async throws -> Int {
        try await eachDead(matching: filter) { [self] id in try await rewriteDead(id: id, missingIsFine: true) { _ in nil } != nil }
    }

    /// Runs `body` on every dead task that matches, 64 at a time; how many it did.
    private func eachDead(matching filter: TaskFilter, _ body: @escaping @Sendable (String) async throws -> Bool) async throws -> Int {
        let ids = index.withLock { $0.dead(matching: filter).map(\.record.id) }
        var count = 0
        for start in stride(from: 0, to: ids.count, by: 64) {
            count += try await withThrowingTaskGroup(of: Int.self) { group in
                for id in ids[start..<min(start + 64, ids.count)] { group.addTask { try await body(id) ? 1 : 0 } }
                return try await group.reduce(0, +)
            }
        }
        return count
    }

    /// Rewrites a dead task (`change` returning nil deletes it) and returns the task as written
    /// (as it was, for a delete). Not dead: `notFound`, or nil with `missingIsFine`.
    private func rewriteDead(
        id: String, missingIsFine: Bool = false, _ change: (NATSStoredTask) -> NATSStoredTask?
    ) async throws -> TaskRecord? {
        var reread = false
        for _ in 0..<Self.maxRounds {
            guard let known = index.withLock({ $0.known(id) }), known.record.status == .dead else {
                if !reread {
                    reread = true
                    try await refresh(subjects: [(.task, id)])
                    continue
                }
                if missingIsFine { return nil }
                throw SwitchboardError.notFound("no task \(id) in the dead-letter queue")
            }
            let written = change(known.stored)
            do {
                try await commit([Write(change: .task(id, written), expected: known.sequence)])
                return written?.record ?? known.record
            } catch is Conflict {
                try await refresh(subjects: [(.task, id)])
                reread = true
            }
        }
        throw Self.contention
    }

    // MARK: QueuePausing

    public func setPaused(_ paused: Bool, queue: String) async throws -> QueueInfo {
        try await commit([Write(change: .queue(queue, paused: paused), expected: nil)])
        return index.withLock { $0.queueInfo(queue) }
    }

    // MARK: FinishedTaskRetention

    public func trim(finishedBefore: Timestamp, keepAtMost: Int, now: Timestamp) async throws -> Int {
        let (drop, expiredKeys) = index.withLock { ($0.finishedToDrop(before: finishedBefore, keepAtMost: keepAtMost), $0.expiredIdempotency(now: now)) }
        var dropped = 0
        for chunk in stride(from: 0, to: drop.count, by: 64).map({ Array(drop[$0..<min($0 + 64, drop.count)]) }) {
            dropped += try await withThrowingTaskGroup(of: Int.self) { group in
                for known in chunk {
                    group.addTask { [self] in
                        do {
                            try await commit([Write(change: .task(known.record.id, nil), expected: known.sequence)])
                            return 1
                        } catch is Conflict {
                            try? await refresh(subjects: [(.task, known.record.id)])
                            return 0
                        } catch {
                            index.withLock { $0.restoreFinished(known) }
                            throw error
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
        }
        for (key, sequence) in expiredKeys {
            do {
                try await commit([Write(change: .idempotency(key, nil), expected: sequence)])
            } catch is Conflict {
                try await refresh(subjects: [(.idempotency, key)])
            }
        }
        return dropped
    }

    // MARK: ClockReference

    /// This server's probe subject: one per server, so that probes do not contend.
    private let clockProbe = String(UInt64.random(in: 0...UInt64.max), radix: 36)

    /// The stream leader's time: a probe written, then read back with the time it was stored.
    public func referenceTime() async throws -> Timestamp {
        let subject = subjects.subject(.clock, clockProbe)
        let stored = try await call {
            _ = try await jetStream.publish(subject, payload: ByteBuffer(), headers: NATSHeaders([("Nats-TTL", "60s")]))
            return try await jetStream.lastMessageFromLeader(stream: subjects.stream, subject: subject)
        }
        guard let stamp = stored?.storedAt, let milliseconds = RFC3339.milliseconds(Array(stamp.utf8)[...]) else {
            throw SwitchboardError.unavailable("NATS: the clock probe came back without the time it was stored")
        }
        return Timestamp(milliseconds: milliseconds)
    }

    // MARK: DurabilityReporting

    public func durabilityReport() async throws -> DurabilityReport {
        let info = try await call { try await jetStream.streamInfo(subjects.stream) }
        let config = info["config"] as? [String: Any] ?? [:]
        let storage = config["storage"] as? String ?? "unknown"
        let replicas = config["num_replicas"] as? Int ?? 1
        var settings = ["storage": storage, "replicas": "\(replicas)", "stream": subjects.stream]
        if let version = client.serverInfo?.version { settings["server_version"] = version }
        var warnings: [String] = []
        if storage != "file" { warnings.append("the task stream is in memory: a NATS restart loses every task") }
        if replicas < 3 {
            warnings.append(
                "the task stream has \(replicas) replica(s): losing that NATS server's disk loses tasks; use --nats-replicas 3 on a cluster")
        }
        // Clients cannot see it; the README says why it matters.
        settings["sync_interval"] = "a server setting: `always` keeps acknowledged tasks through a power loss"
        return DurabilityReport(survivesRestart: storage == "file", settings: settings, warnings: warnings)
    }
}
