import CoreMetrics
import Logging
import Metrics
import SwitchboardJSON
import Synchronization

/// The one place for policy (DESIGN.md §1, §5): validation, ids, defaults, the retry decision,
/// lease reaping, retention and the wake-ups of waiting leasers. It sits above any
/// `TaskBackend`, so in-process and remote workers, and every backend, behave the same.
public final class TaskEngine: TaskSource {
    public let backend: any TaskBackend
    public let configuration: EngineConfiguration
    public let clock: any SwitchboardClock
    let logger: Logger
    let metrics: EngineMetrics
    let readySignal = ReadySignal()
    private let finishSignal = FinishSignal()
    /// Every worker that leased here, in-process or remote.
    public let workers = WorkerRegistry()
    /// What happened on this server, for live views (`GET /v1/events`).
    public let events: EventJournal
    /// The backend's feed of work made ready by other processes, when it has one.
    private let readySource: (any ReadyEventSource)?
    /// Whether that feed is live; while it is not, waiting leasers fall back to polling.
    private let readyFeedLive = Atomic<Bool>(false)
    /// The backend's optional abilities (nil: it lacks that one).
    private let deadLetterAdministration: (any DeadLetterAdministration)?
    private let queuePausing: (any QueuePausing)?
    private let retention: (any FinishedTaskRetention)?
    private let clockReference: (any ClockReference)?
    private let lastClockSkew = Mutex<ClockSkew?>(nil)
    /// `clock` when it follows the backend's (a shared backend with a clock, a skew bound set).
    private let alignedClock: BackendAlignedClock?
    /// Single completions that arrive together reach the backend as one batch.
    private let completions = GroupCommit<LeaseCompletion, TaskRecord>(maxBatch: TaskEngine.completionBatch)
    private let validator: TaskValidator
    private let admission: Admission
    private let random = Mutex(RandomBytes())

    public init(
        backend: any TaskBackend,
        configuration: EngineConfiguration = EngineConfiguration(),
        clock: any SwitchboardClock = SystemClock(),
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        logger: Logger = Logger(label: "switchboard.engine")
    ) {
        self.backend = backend
        self.configuration = configuration
        let clockReference = backend as? any ClockReference
        self.alignedClock = clockReference != nil && configuration.maxClockSkew != nil ? BackendAlignedClock(local: clock) : nil
        self.clock = alignedClock ?? clock
        self.logger = logger
        self.metrics = EngineMetrics(factory: metricsFactory)
        self.validator = TaskValidator(configuration: configuration)
        self.admission = Admission(limits: configuration.admission)
        self.readySource = backend as? any ReadyEventSource
        self.deadLetterAdministration = backend as? any DeadLetterAdministration
        self.queuePausing = backend as? any QueuePausing
        self.retention = backend as? any FinishedTaskRetention
        self.clockReference = clockReference
        var random = RandomBytes()
        let (a, _) = random.next16()
        self.events = EventJournal(capacity: configuration.eventBufferSize, epoch: String(a, radix: 36))
    }

    /// Records that these tasks changed, when anyone may read it.
    private func note(_ kind: EngineEvent.Kind, _ tasks: some Collection<TaskRecord>, at now: Timestamp) {
        guard events.isRecording(at: now) else { return }
        let changes = Array(tasks.lazy.map { EngineEvent.task(kind, $0, at: now) })
        if !changes.isEmpty { events.append(changes) }
    }

    private func note(_ event: @autoclosure () -> EngineEvent) {
        let event = event()
        if events.isRecording(at: event.at) { events.append(event) }
    }

    /// This server's clock against its backend's, as last measured (nil: not shared, or not yet).
    public var clockSkew: ClockSkew? { lastClockSkew.withLock { $0 } }

    /// Measures this server's clock against the backend's (the backend's time is taken as the
    /// midpoint of the round trip). Nil for a backend without a clock of its own.
    @discardableResult
    public func measureClockSkew() async throws -> ClockSkew? {
        guard let clockReference, let alignedClock, let bound = configuration.maxClockSkew else { return nil }
        let local = alignedClock.local
        let (before, elapsedBefore) = (local.now(), local.elapsedTime())
        let reference = try await clockReference.referenceTime()
        let (after, elapsedAfter) = (local.now(), local.elapsedTime())
        // The backend read its clock somewhere in the round trip: the midpoint errs by half of it
        // at most. A slow round trip (a partition that healed, a stalled Redis) would anchor the
        // engine's time far off: it is ignored, and the last anchor stands.
        guard elapsedAfter - elapsedBefore <= configuration.maxClockRoundTrip else {
            logger.debug("clock measurement ignored: slow round trip", metadata: ["round_trip": "\(elapsedAfter - elapsedBefore)"])
            return clockSkew
        }
        let wall = Timestamp(milliseconds: before.milliseconds + (after.milliseconds - before.milliseconds) / 2)
        alignedClock.align(backendTime: reference, atElapsed: elapsedBefore + (elapsedAfter - elapsedBefore) / 2)
        let measured = ClockSkew(skew: wall - reference, bound: bound, measuredAt: after)
        let previous = lastClockSkew.withLock { last in
            defer { last = measured }
            return last
        }
        if measured.isWithinBound != (previous?.isWithinBound ?? true) || (previous == nil && !measured.isWithinBound) {
            if measured.isWithinBound {
                logger.notice("clock back within bound of the backend's; reaping resumes", metadata: ["skew_ms": "\(measured.skew.wholeMilliseconds)"])
            } else {
                logger.error(
                    "this server's clock differs from the backend's by more than the bound: it does not reap leases until fixed",
                    metadata: ["skew_ms": "\(measured.skew.wholeMilliseconds)", "bound_ms": "\(measured.bound.wholeMilliseconds)"])
            }
        }
        return measured
    }

    /// Single completions per backend call at most: enough to share a round trip widely, few
    /// enough that one call does not hold the backend (one Redis script) for long.
    static let completionBatch = 256

    private func deadLetters() throws(SwitchboardError) -> any DeadLetterAdministration {
        guard let deadLetterAdministration else { throw .unsupported("this backend does not administer dead letters") }
        return deadLetterAdministration
    }

    private func pausing() throws(SwitchboardError) -> any QueuePausing {
        guard let queuePausing else { throw .unsupported("this backend cannot pause queues") }
        return queuePausing
    }

    /// The embedded default: an in-memory backend.
    public static func memory(
        configuration: EngineConfiguration = EngineConfiguration(),
        clock: any SwitchboardClock = SystemClock(),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) -> TaskEngine {
        TaskEngine(
            backend: MemoryTaskBackend(errorHistoryLimit: configuration.limits.maxErrorHistory),
            configuration: configuration, clock: clock, metricsFactory: metricsFactory)
    }

    private func newTaskID(_ now: Timestamp) -> String {
        UUIDv7.make(at: now, random: random.withLock { $0.next16() })
    }

    // MARK: Enqueue

    /// Validates and stores one task. `created` is false when the id or idempotency key was known.
    /// An `Idempotency-Key` header's key (`idempotencyHeader`) wins over the submission's field,
    /// whose value must still be valid.
    public func enqueue(_ submission: TaskSubmission, idempotencyHeader: String? = nil) async throws -> EnqueueOutcome {
        var submission = submission
        if let key = idempotencyHeader {
            try validator.validate(idempotencyHeader: key)
            if let field = submission.idempotencyKey, !NamePattern.isPrintable(field, maxLength: 256) {
                throw SwitchboardError.invalid("idempotency_key must be 1-256 printable characters")
            }
            submission.idempotencyKey = key
        }
        return try await enqueue(batch: [submission])[0]
    }

    /// Validates every task first, then stores them all in one atomic step: all or none.
    public func enqueue(batch submissions: [TaskSubmission]) async throws -> [EnqueueOutcome] {
        guard !submissions.isEmpty else { throw SwitchboardError.invalid("a batch needs at least one task") }
        guard submissions.count <= configuration.limits.maxBatchSize else {
            throw SwitchboardError.invalid("a batch may hold at most \(configuration.limits.maxBatchSize) tasks")
        }
        let now = clock.now()
        var tasks: [NewTask] = []
        tasks.reserveCapacity(submissions.count)
        for (index, submission) in submissions.enumerated() {
            do {
                tasks.append(try validator.validate(submission, id: newTaskID(now), now: now))
            } catch {
                throw submissions.count == 1 ? error : SwitchboardError(error.kind, "items[\(index)]: \(error.detail)")
            }
        }
        try await admission.admit(tasks) { try await backend.queues() }
        let outcomes = try await backend.enqueue(tasks, now: now)
        let created = outcomes.lazy.filter(\.created).map(\.task)
        metrics.enqueued(created)
        note(.taskCreated, created, at: now)
        admission.enqueued(created)
        var queues: Set<String> = []
        var lastQueue: String?
        for task in created where task.queue != lastQueue {
            queues.insert(task.queue)
            lastQueue = task.queue
        }
        readySignal.notify(queues: queues)
        return outcomes
    }

    // MARK: Leasing (TaskSource)

    /// Leases ready tasks; with `wait`, long-polls: the call sleeps until an enqueue (or a
    /// promotion, release, requeue, resume) signals one of its queues, or until the earliest
    /// scheduled task in them is due, and never past `wait`.
    /// Refuses a lease request `lease` would refuse, without leasing.
    public func validate(_ request: LeaseRequest) throws(SwitchboardError) {
        try validator.validate(request)
    }

    public func lease(_ request: LeaseRequest) async throws -> [TaskLease] {
        try validator.validate(request)
        workers.record(.seen, worker: request.workerID, host: request.host, slots: request.slots, tools: request.tools, queues: request.queues, at: clock.now())
        let terms = LeaseTerms(duration: request.leaseDuration, grace: configuration.leaseGrace)
        let deadline = clock.now() + request.wait
        while true {
            let generation = readySignal.generation
            let now = clock.now()
            let leases = try await backend.lease(
                queues: request.queues, maxTasks: request.maxTasks, workerID: request.workerID, terms: terms, now: now)
            if !leases.isEmpty {
                metrics.leased(leases, now: now)
                note(.taskUpdated, leases.lazy.map(\.task), at: now)
                workers.record(.leased(leases.count), worker: request.workerID, at: now)
                return leases
            }
            guard now < deadline, !Task.isCancelled else { return [] }
            var wakeAt = deadline
            if let due = try await backend.nextDeadline(queues: request.queues), due < wakeAt { wakeAt = max(due, now) }
            if readySource != nil, !readyFeedLive.load(ordering: .relaxed) {
                wakeAt = min(wakeAt, now + configuration.readyPollFallback)
            }
            await waitForWork(queues: request.queues, after: generation, until: wakeAt)
        }
    }

    /// Between attempts to follow the ready feed again (waiting leasers poll meanwhile).
    static let readyFeedBackoff = Backoff(base: .milliseconds(100), cap: .seconds(5), jitter: .none)

    /// Whether the backend's ready feed is live (always false for a backend without one).
    public var isFollowingReadyEvents: Bool { readyFeedLive.load(ordering: .relaxed) }

    /// Follows the backend's feed of work made ready by other processes (other servers on one
    /// Redis) and wakes the leasers waiting here, until cancelled. A broken feed is rejoined
    /// with backoff; meanwhile leasers poll (`readyPollFallback`), and on rejoining every
    /// waiter looks again, since events may have been missed.
    public func followReadyEvents() async {
        guard let readySource else { return }
        var failures = 0
        while !Task.isCancelled {
            do {
                try await readySource.followReadyEvents { [self] event in
                    switch event {
                    case .connected:
                        readyFeedLive.store(true, ordering: .relaxed)
                        readySignal.notifyAll()
                    case .queue(let queue):
                        readySignal.notify(queues: CollectionOfOne(queue))
                    }
                }
            } catch {
                if failures == 0 { logger.warning("ready feed lost; leasers poll until it is back", metadata: ["error": "\(error)"]) }
            }
            let wasLive = readyFeedLive.exchange(false, ordering: .relaxed)
            failures = wasLive ? 1 : failures + 1
            guard !Task.isCancelled else { return }
            try? await clock.sleep(for: Self.readyFeedBackoff.delay(afterAttempt: failures))
        }
    }

    private func waitForWork(queues: [String], after generation: UInt64, until deadline: Timestamp) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.readySignal.wait(queues: queues, after: generation) }
            group.addTask { try? await self.clock.sleep(until: deadline) }
            await group.next()
            group.cancelAll()
        }
    }

    public func heartbeat(leaseID: String, extendBy: Duration?, workerID: String? = nil) async throws -> HeartbeatStatus {
        if let extendBy { try validator.validate(leaseDuration: extendBy, field: "extend_ms") }
        try validator.validate(workerID: workerID)
        let now = clock.now()
        let status = try await backend.heartbeat(
            leaseID: leaseID, extension: LeaseTerms(duration: extendBy, grace: configuration.leaseGrace), now: now)
        if let workerID { workers.record(.seen, worker: workerID, at: now) }
        return status
    }

    /// One completion; those that arrive while another call is out go to the backend together
    /// in the next (group commit: nothing waits on a timer).
    public func complete(leaseID: String, result: RawJSON?) async throws -> TaskRecord {
        try validator.validate(result: result)
        return try await completions.submit(LeaseCompletion(leaseID: leaseID, result: result)) { batch in
            try await self.applyCompletions(batch)
        }
    }

    /// Many completions, each on its own (a bad result or a stale lease fails that one only),
    /// applied by the backend in one step where it can.
    public func complete(batch: [LeaseCompletion]) async throws -> [Result<TaskRecord, any Error>] {
        var results = [Result<TaskRecord, any Error>?](repeating: nil, count: batch.count)
        var valid: [LeaseCompletion] = []
        var positions: [Int] = []
        valid.reserveCapacity(batch.count)
        positions.reserveCapacity(batch.count)
        for (index, completion) in batch.enumerated() {
            do {
                try validator.validate(result: completion.result)
                valid.append(completion)
                positions.append(index)
            } catch {
                results[index] = .failure(error)
            }
        }
        let outcomes = valid.isEmpty ? [] : try await applyCompletions(valid)
        for (index, outcome) in zip(positions, outcomes) { results[index] = outcome }
        return results.map { $0! }
    }

    /// Completes validated completions in the backend and counts what went through.
    private func applyCompletions(_ batch: [LeaseCompletion]) async throws -> [Result<TaskRecord, any Error>] {
        let now = clock.now()
        let outcomes = try await backend.complete(batch: batch, now: now)
        precondition(outcomes.count == batch.count, "a backend answers every completion of a batch")
        var completed: [TaskRecord] = []
        completed.reserveCapacity(outcomes.count)
        for case .success(let task) in outcomes { completed.append(task) }
        metrics.completed(completed, now: now)
        note(.taskUpdated, completed, at: now)
        finishSignal.notify(completed)
        // A freed lock key may have made a parked task of any queue ready.
        if completed.contains(where: { $0.lockKey != nil }) { readySignal.notifyAll() }
        // Counted per run of one worker's tasks (a batch is usually one worker's): one registry
        // entry per run, not a dictionary update per task.
        var completedBy: [String: Int] = [:]
        var lastWorker: String?
        var run = 0
        for task in completed {
            if task.workerID != lastWorker {
                if let lastWorker { completedBy[lastWorker, default: 0] += run }
                (lastWorker, run) = (task.workerID, 0)
            }
            run += 1
        }
        if let lastWorker { completedBy[lastWorker, default: 0] += run }
        for (worker, count) in completedBy { workers.record(.completed(count), worker: worker, at: now) }
        return outcomes
    }

    public func complete(leases completions: [LeaseCompletion]) async throws -> [(any Error)?] {
        try await complete(batch: completions).map { outcome in
            if case .failure(let error) = outcome { error } else { nil }
        }
    }

    public func fail(leaseID: String, failure: TaskFailureReport) async throws -> TaskRecord {
        try validator.validate(failure)
        let now = clock.now()
        let policy = configuration.retry
        let task = try await backend.fail(
            leaseID: leaseID, message: validator.truncated(message: failure.message), now: now
        ) { task in
            policy.decide(
                task, retryable: failure.retryable, now: now, maxRetries: failure.maxRetries,
                baseDelay: failure.retryDelay)
        }
        attemptEnded(task, now: now, failed: true)
        note(.taskUpdated, CollectionOfOne(task), at: now)
        finishSignal.notify(CollectionOfOne(task))
        if let worker = task.errors.last?.workerID { workers.record(.failed, worker: worker, at: now) }
        return task
    }

    public func release(leaseID: String, workerID: String? = nil) async throws -> TaskRecord {
        try validator.validate(workerID: workerID)
        let now = clock.now()
        let policy = configuration.retry
        let task = try await backend.release(leaseID: leaseID, now: now, maxReleases: configuration.maxReleases) { task in
            policy.decide(task, retryable: true, now: now)
        }
        // Past the limit the release was a failed attempt.
        if task.status == .retrying || task.status == .dead { attemptEnded(task, now: now, failed: true) }
        note(.taskUpdated, CollectionOfOne(task), at: now)
        finishSignal.notify(CollectionOfOne(task))
        if let workerID { workers.record(.released, worker: workerID, at: now) }
        if task.lockKey != nil { readySignal.notifyAll() } else { readySignal.notify(queues: [task.queue]) }
        return task
    }

    private func attemptEnded(_ task: TaskRecord, now: Timestamp, failed: Bool) {
        metrics.attemptEnded(task, now: now, failed: failed)
        // A freed lock key may have made a parked task of any queue ready.
        if task.lockKey != nil { readySignal.notifyAll() }
    }

    // MARK: Inspection and control

    public func task(id: String) async throws -> TaskRecord {
        guard let task = try await backend.task(id: id) else { throw SwitchboardError.notFound("no task \(id)") }
        return task
    }

    public func cancel(id: String) async throws -> TaskRecord {
        let now = clock.now()
        let task = try await backend.cancel(id: id, now: now)
        note(.taskUpdated, CollectionOfOne(task), at: now)
        finishSignal.notify(CollectionOfOne(task))
        // Cancelling a task that held its lock key's turn hands the turn on, maybe to another queue.
        if task.lockKey != nil, task.status == .cancelled { readySignal.notifyAll() }
        return task
    }

    public func list(_ filter: TaskFilter = TaskFilter(), page: PageRequest = PageRequest()) async throws -> Page<TaskRecord> {
        try validate(page)
        try validator.validate(filter)
        return try await backend.list(filter, page: page)
    }

    /// A run's counts per state over all its tasks, and its first `RunSummary.maxTasks` tasks.
    public func run(_ runID: String) async throws -> RunSummary {
        var counts: [TaskStatus: Int] = [:]
        var tasks: [TaskRecord] = []
        var cursor: String?
        repeat {
            let page = try await backend.list(TaskFilter(runID: runID), page: PageRequest(limit: PageRequest.maxLimit, cursor: cursor))
            for task in page.items {
                counts[task.status, default: 0] += 1
                if tasks.count < RunSummary.maxTasks { tasks.append(task) }
            }
            cursor = page.nextCursor
        } while cursor != nil
        guard !tasks.isEmpty else { throw SwitchboardError.notFound("no tasks in run \(runID)") }
        return RunSummary(runID: runID, counts: counts, tasks: tasks)
    }

    /// How often a wait for a task re-reads it, for a finish on another server sharing the backend.
    static let finishRecheck: Duration = .seconds(1)

    /// The task once it has finished (completed, dead or cancelled), or as it is when `timeout`
    /// runs out. A finish on this server ends the wait at once; one on another server sharing
    /// the backend is seen at the next re-read (`finishRecheck`).
    public func waitUntilFinished(id: String, timeout: Duration) async throws -> TaskRecord {
        let deadline = clock.now() + timeout
        finishSignal.watch(id)
        defer { finishSignal.unwatch(id) }
        while true {
            finishSignal.rearm(id)
            let task = try await self.task(id: id)
            let now = clock.now()
            if task.status.isFinished || now >= deadline || Task.isCancelled { return task }
            let wakeAt = min(deadline, now + Self.finishRecheck)
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.finishSignal.wait(for: id) }
                group.addTask { try? await self.clock.sleep(until: wakeAt) }
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// Recent runs, the one with the newest task first, with their counts. Only tasks in queues
    /// `visible` admits count; a run with none of them is left out (so a page may hold fewer
    /// than `limit`).
    public func runs(page: PageRequest = PageRequest(limit: 20), visible: (String) -> Bool = { _ in true }) async throws -> Page<RunInfo> {
        try validate(page)
        guard let listing = backend as? any RunListing else { throw SwitchboardError.unsupported("this backend does not list runs") }
        let ids = try await listing.runs(page: page)
        var runs: [RunInfo] = []
        for runID in ids.items {
            var info = RunInfo(runID: runID, counts: [:], queues: [], createdAt: Timestamp(milliseconds: .max), updatedAt: Timestamp(milliseconds: .min))
            var queues: Set<String> = []
            var cursor: String?
            repeat {
                let tasks = try await backend.list(TaskFilter(runID: runID), page: PageRequest(limit: PageRequest.maxLimit, cursor: cursor))
                for task in tasks.items where visible(task.queue) {
                    info.counts[task.status, default: 0] += 1
                    queues.insert(task.queue)
                    info.createdAt = min(info.createdAt, task.createdAt)
                    info.updatedAt = max(info.updatedAt, task.updatedAt)
                }
                cursor = tasks.nextCursor
            } while cursor != nil
            guard !queues.isEmpty else { continue }
            info.queues = queues.sorted()
            runs.append(info)
        }
        return Page(items: runs, nextCursor: ids.nextCursor)
    }

    public func deadLetters(queue: String? = nil, type: String? = nil, page: PageRequest = PageRequest()) async throws -> Page<TaskRecord> {
        try validate(page)
        let filter = TaskFilter(queue: queue, status: .dead, type: type)
        try validator.validate(filter)
        return try await backend.list(filter, page: page)
    }

    public func requeueDead(id: String) async throws -> TaskRecord {
        let now = clock.now()
        let task = try await deadLetters().requeueDead(id: id, now: now)
        note(.taskUpdated, CollectionOfOne(task), at: now)
        readySignal.notify(queues: [task.queue])
        return task
    }

    public func requeueDead(queue: String? = nil, type: String? = nil) async throws -> Int {
        let filter = TaskFilter(queue: queue, type: type)
        try validator.validate(filter)
        let now = clock.now()
        let count = try await deadLetters().requeueDead(matching: filter, now: now)
        if count > 0 {
            note(EngineEvent(kind: .deadRequeued, at: now, queue: queue, count: count))
            readySignal.notifyAll()
        }
        return count
    }

    public func deleteDead(id: String) async throws {
        let administration: any DeadLetterAdministration = try deadLetters()
        // Read first so that the event can say which queue lost it (readers may see some queues only).
        let task = events.isRecording(at: clock.now()) ? try await backend.task(id: id) : nil
        try await administration.deleteDead(id: id)
        if let task { note(.taskDeleted, CollectionOfOne(task), at: clock.now()) }
    }

    /// The most ids one bulk call takes.
    public static let maxBulkIDs = 1000

    /// Requeues the dead tasks named, each on its own (as the operator's page selects them); ids
    /// not in the dead-letter queue, or not matching `filter`'s queue and type, come back as
    /// `missing`, the rest requeued.
    public func requeueDead(ids: [String], matching filter: TaskFilter = TaskFilter()) async throws -> (requeued: [TaskRecord], missing: [String]) {
        try validateBulk(ids)
        try validator.validate(filter)
        let administration: any DeadLetterAdministration = try deadLetters()
        var requeued: [TaskRecord] = []
        var missing: [String] = []
        let narrowed = filter.queue != nil || filter.type != nil
        for id in ids {
            if narrowed {
                guard let task = try await backend.task(id: id), filter.matches(task) else {
                    missing.append(id)
                    continue
                }
            }
            do {
                requeued.append(try await administration.requeueDead(id: id, now: clock.now()))
            } catch let error as SwitchboardError where error.kind == .notFound {
                missing.append(id)
            }
        }
        readySignal.notify(queues: Set(requeued.map(\.queue)))
        note(.taskUpdated, requeued, at: clock.now())
        return (requeued, missing)
    }

    /// Deletes the dead tasks named, each on its own; ids not in the dead-letter queue come back
    /// as `missing`.
    public func deleteDead(ids: [String]) async throws -> (deleted: Int, missing: [String]) {
        try validateBulk(ids)
        let administration: any DeadLetterAdministration = try deadLetters()
        var deleted = 0
        var missing: [String] = []
        for id in ids {
            do {
                let task = events.isRecording(at: clock.now()) ? try await backend.task(id: id) : nil
                try await administration.deleteDead(id: id)
                if let task { note(.taskDeleted, CollectionOfOne(task), at: clock.now()) }
                deleted += 1
            } catch let error as SwitchboardError where error.kind == .notFound {
                missing.append(id)
            }
        }
        return (deleted, missing)
    }

    private func validateBulk(_ ids: [String]) throws(SwitchboardError) {
        guard !ids.isEmpty, ids.count <= Self.maxBulkIDs else { throw .invalid("ids must hold 1 to \(Self.maxBulkIDs) task ids") }
        guard Set(ids).count == ids.count else { throw .invalid("ids must not repeat") }
        for id in ids where !NamePattern.isIdentifier(id, maxLength: 128) {
            throw .invalid("ids: \(id.debugDescription) is not a task id")
        }
    }

    public func purgeDead(queue: String? = nil, type: String? = nil) async throws -> Int {
        let filter = TaskFilter(queue: queue, type: type)
        try validator.validate(filter)
        let count = try await deadLetters().purgeDead(matching: filter)
        if count > 0 { note(EngineEvent(kind: .deadPurged, at: clock.now(), queue: queue, count: count)) }
        return count
    }

    /// Records that a maintenance pass could not reach the backend (`switchboard_backend_up` 0).
    public func noteMaintenanceFailed() {
        metrics.backend(up: false)
    }

    public func queues() async throws -> [QueueInfo] {
        try await backend.queues()
    }

    /// How durable the backend says it is; nil when it cannot say.
    public func durabilityReport() async throws -> DurabilityReport? {
        try await (backend as? any DurabilityReporting)?.durabilityReport()
    }

    public func pause(queue: String) async throws -> QueueInfo {
        try validator.validate(queueName: queue)
        let info = try await pausing().setPaused(true, queue: queue)
        note(EngineEvent(kind: .queuePaused, at: clock.now(), queue: queue))
        return info
    }

    public func resume(queue: String) async throws -> QueueInfo {
        try validator.validate(queueName: queue)
        let info = try await pausing().setPaused(false, queue: queue)
        note(EngineEvent(kind: .queueResumed, at: clock.now(), queue: queue))
        readySignal.notify(queues: [queue])
        return info
    }

    private func validate(_ page: PageRequest) throws(SwitchboardError) {
        guard (1...PageRequest.maxLimit).contains(page.limit) else {
            throw .invalid("limit must be between 1 and \(PageRequest.maxLimit)")
        }
    }

    // MARK: Maintenance

    /// One pass of the timed work: makes due tasks ready (and wakes their leasers), reaps
    /// expired leases as failed attempts, drops finished tasks past retention, and publishes
    /// queue depths. Returns when the next pass is needed.
    @discardableResult
    public func performMaintenance() async throws -> Timestamp {
        // Measured first, so that this pass's time is on the backend's (BackendAlignedClock). Nil
        // without a backend clock or a bound; the last measurement when Redis does not answer.
        let skew = (try? await measureClockSkew()) ?? clockSkew
        let now = clock.now()
        let promoted = try await backend.promoteDue(now: now)
        readySignal.notify(queues: promoted)
        if !promoted.isEmpty, events.isRecording(at: now) {
            events.append(promoted.sorted().map { EngineEvent(kind: .queueReady, at: now, queue: $0) })
        }

        let policy = configuration.retry
        // The engine's clock follows the backend's, but a wall clock this far off is taken as a
        // sign of trouble with this host's time: it leaves reaping to the others.
        let mayReap = skew?.isWithinBound ?? true
        let reaped = !mayReap ? [] : try await backend.reapExpiredLeases(now: now, limit: configuration.reapBatchSize) { task in
            policy.decide(task, retryable: true, now: now)
        }
        for task in reaped {
            logger.warning("lease expired", metadata: ["task_id": "\(task.id)", "queue": "\(task.queue)", "status": "\(task.status.rawValue)"])
            metrics.leaseExpired(queue: task.queue)
            note(EngineEvent.task(.leaseExpired, task, at: now))
            finishSignal.notify(CollectionOfOne(task))
            attemptEnded(task, now: now, failed: true)
            if let worker = task.errors.last?.workerID { workers.record(.expired, worker: worker, at: now) }
        }

        _ = try await retention?.trim(
            finishedBefore: now - configuration.finishedRetention, keepAtMost: configuration.maxFinishedTasks, now: now)
        let queues = try await backend.queues()
        metrics.depth(queues)
        if let sized = backend as? any StorageSizeReporting { metrics.storage(bytes: sized.storageBytes()) }
        metrics.backend(up: true)
        admission.record(depths: queues)

        if reaped.count == configuration.reapBatchSize { return now }
        let next = now + configuration.maintenanceInterval
        guard let deadline = try await backend.nextDeadline(queues: nil) else { return next }
        return min(max(deadline, now), next)
    }
}
