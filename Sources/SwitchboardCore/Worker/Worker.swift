import Logging
import ServiceLifecycle
import SwitchboardJSON
import Synchronization

/// What a handler gets: the task, and the worker's services.
public struct TaskContext: Sendable {
    public var task: TaskRecord
    public var leaseID: String
    /// The lease's fencing token, for a task with a `lockKey`: pass it with every write to what
    /// the key guards, so that the resource can refuse a stale holder (`FencingGuard`).
    public var fencingToken: UInt64?
    public var workerID: String
    public var locks: any LockService
    public var tools: ToolRegistry
    /// The worker's logger with the task's id (built when asked for: most handlers never log,
    /// and metadata costs an allocation per task).
    public var logger: Logger {
        get { customLogger ?? workerLogger.with(taskID: task.id) }
        set { customLogger = newValue }
    }
    private let workerLogger: Logger
    private var customLogger: Logger?

    init(
        task: TaskRecord, leaseID: String, fencingToken: UInt64? = nil, workerID: String, locks: any LockService, tools: ToolRegistry,
        workerLogger: Logger
    ) {
        self.task = task
        self.leaseID = leaseID
        self.fencingToken = fencingToken
        self.workerID = workerID
        self.locks = locks
        self.tools = tools
        self.workerLogger = workerLogger
    }
}

/// Runs tasks from a `TaskSource` (the engine in-process, or the REST API remotely) with a fixed
/// number of slots.
///
/// One loop leases as many tasks as there are free slots, waiting up to `pollInterval` for work
/// (the source wakes it sooner when work arrives). Each task runs its type's handler under a
/// timeout; one heartbeat loop extends the leases of running tasks and learns of cancel
/// requests. `stop()` (or SIGTERM through swift-service-lifecycle) stops leasing, lets running
/// tasks finish within `drainTimeout`, then cancels the rest and releases them without using up
/// an attempt.
public final class Worker: Service, Sendable {
    public struct Configuration: Sendable {
        public var id: String
        public var queues: [String]
        /// Tasks run at once.
        public var concurrency: Int
        /// The longest one lease call waits for work: an upper bound on wake-up latency for
        /// sources that cannot push.
        public var pollInterval: Duration
        /// Caps each task's own `timeout_ms` when set.
        public var taskTimeout: Duration?
        /// This worker's retry limit and base retry delay, applied by the engine's retry policy
        /// (nil: the task's `max_retries` and the engine's delay).
        public var maxRetries: Int?
        public var retryDelay: Duration?
        public var drainTimeout: Duration
        /// Nil: each task's timeout plus the engine's grace.
        public var leaseDuration: Duration?
        /// How often the heartbeat loop looks at running tasks.
        public var heartbeatInterval: Duration
        /// The longest a running task goes without a heartbeat, so that a cancel request reaches
        /// it within about this long even when its lease is hours long.
        public var cancelCheckInterval: Duration
        /// Reported to the server with each lease (remote workers: the machine's name).
        public var host: String?
        /// The most tasks one lease call asks for, however many slots are free (the API and the
        /// engine's default take at most 1,000 per call).
        public var maxTasksPerLease: Int
        /// Self-fencing: a handler is cancelled, and its task given up without a report, once its
        /// lease's last confirmed expiry less this margin has passed (at most a quarter of the
        /// lease). Counted on this worker's clock from when the confirmed call was *sent*, so
        /// neither the network's delay nor the server's clock is trusted; what is assumed is that
        /// clocks advance at about the same rate (drift well under the margin over one lease) and
        /// do not jump. The margin also has to cover the time a handler takes to stop once cancelled.
        public var fenceMargin: Duration

        public init(
            id: String, queues: [String] = ["default"], concurrency: Int = 4, pollInterval: Duration = .seconds(1),
            taskTimeout: Duration? = nil, maxRetries: Int? = nil, retryDelay: Duration? = nil,
            drainTimeout: Duration = .seconds(30), leaseDuration: Duration? = nil, heartbeatInterval: Duration = .seconds(1),
            cancelCheckInterval: Duration = .seconds(5), host: String? = nil, maxTasksPerLease: Int = 1000,
            fenceMargin: Duration = .seconds(1)
        ) {
            self.fenceMargin = fenceMargin
            self.host = host
            self.maxTasksPerLease = maxTasksPerLease
            self.id = id
            self.queues = queues
            self.concurrency = concurrency
            self.pollInterval = pollInterval
            self.taskTimeout = taskTimeout
            self.maxRetries = maxRetries
            self.retryDelay = retryDelay
            self.drainTimeout = drainTimeout
            self.leaseDuration = leaseDuration
            self.heartbeatInterval = heartbeatInterval
            self.cancelCheckInterval = cancelCheckInterval
        }
    }

    public typealias Handler = @Sendable (TaskContext) async throws -> RawJSON?

    /// A finished execution's outcome, on its way to the source (small: it is queued and
    /// copied per task, the task record is not needed any more).
    private struct Report: Sendable {
        var outcome: Outcome
        var leaseID: String
        var taskID: String
        var elapsed: Duration

        /// A success's completion (only successes are batched or carried).
        var completion: LeaseCompletion {
            guard case .succeeded(let result) = outcome else { preconditionFailure("only successes complete") }
            return LeaseCompletion(leaseID: leaseID, result: result)
        }
    }

    public let configuration: Configuration
    private let source: any TaskSource
    private let locks: any LockService
    private let tools: ToolRegistry
    private let clock: any SwitchboardClock
    private let logger: Logger
    private let handlers = Mutex<[String: Handler]>([:])
    private let running = RunningExecutions()
    private let outcomes: OutcomeQueue<Report>
    private let counters = Mutex(WorkerMetrics())
    private let slots: Slots
    private let stopSignal = Latch()
    /// The drain timeout counts from the first stop request.
    private let stoppedAt = Mutex<Timestamp?>(nil)

    public init(
        configuration: Configuration,
        source: any TaskSource,
        locks: any LockService,
        tools: ToolRegistry = .builtins(),
        clock: any SwitchboardClock = SystemClock(),
        logger: Logger = Logger(label: "switchboard.worker")
    ) {
        precondition(configuration.concurrency > 0, "a worker needs at least one slot")
        precondition(configuration.maxTasksPerLease > 0, "a lease call must ask for at least one task")
        self.configuration = configuration
        self.source = source
        self.locks = locks
        self.tools = tools
        self.clock = clock
        var logger = logger
        logger[metadataKey: "worker_id"] = "\(configuration.id)"
        self.logger = logger
        self.slots = Slots(capacity: configuration.concurrency)
        // Room for what finishes while a report is on its way: on a durable backend a report
        // lasts a commit or two, and at twice the slots the queue filled during a slow commit,
        // so finished handlers held their slots and leasing stopped (BENCHMARKS.md "SQLite").
        self.outcomes = OutcomeQueue(capacity: 4 * configuration.concurrency)
        registerHandler(for: "tool_call", Self.toolCallHandler)
    }

    /// Runs tasks of `type` with `handler` (replacing any earlier one). Throw `TaskFailure` to
    /// choose retryable or not; other errors are retryable.
    public func registerHandler(for type: String, _ handler: @escaping Handler) {
        handlers.withLock { $0[type] = handler }
    }

    public var metrics: WorkerMetrics { counters.withLock { $0 } }

    /// Tasks running now.
    public var busySlots: Int { slots.busy }

    /// Stops leasing and starts the drain; `run()` returns once it is done.
    public func stop() {
        let now = clock.now()
        stoppedAt.withLock { $0 = $0 ?? now }
        stopSignal.open()
        slots.stop()
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withTaskGroup(of: Void.self) { supervision in
                    supervision.addTask { await self.supervise() }
                    await withTaskGroup(of: Void.self) { reporting in
                        reporting.addTask { await self.reportOutcomes() }
                        await self.leaseAndRun()
                        // Every execution has ended: the reporting loop delivers the rest, then ends.
                        outcomes.close()
                    }
                    supervision.cancelAll()
                }
                let m = metrics
                logger.info(
                    "worker stopped",
                    metadata: [
                        "completed": "\(m.tasksCompleted)", "failed": "\(m.tasksFailed)", "released": "\(m.tasksReleased)",
                    ])
            } onCancel: {
                // As a task group's children would be: every running handler is cancelled now,
                // and its task released.
                self.stop()
                for execution in self.running.all { execution.control.interrupt(.draining) }
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    // MARK: Leasing

    private func leaseAndRun() async {
        let carries = source.carriesCompletionsOnLease
        // The tools go with the first lease call and with the first after they change.
        var toldTools: UInt64?
        while true {
            // Until the next lease call, finished tasks wait to go with it (one round trip
            // for both) instead of going on their own.
            if carries { outcomes.setCarrying(true) }
            guard var free = await slots.waitForFree(), !stopSignal.isOpen else { break }
            // Slots tend to come free together: one yield lets the rest of a burst land, so
            // one lease call fills them all.
            await Task.yield()
            free = min(slots.free, configuration.maxTasksPerLease)
            guard free > 0 else { continue }
            let toolsVersion = tools.version
            let request = LeaseRequest(
                workerID: configuration.id, queues: configuration.queues, maxTasks: free,
                leaseDuration: configuration.leaseDuration, wait: configuration.pollInterval, host: configuration.host,
                slots: configuration.concurrency, tools: toldTools == toolsVersion ? nil : tools.descriptors)
            let carried = outcomes.takeHeld(limit: Self.completionsPerCall)
            var leases: [TaskLease]
            // A lease is safe from when its call was sent (a long-poll's tasks are leased later,
            // so this errs on the safe side).
            var sentAt = clock.now()
            do {
                // While the queues are busy a plain call gets the tasks; racing it against the
                // stop signal (a task group, two child tasks) is only worth it for a long-poll.
                // What finishes during this short call waits for the next one.
                var immediate = request
                immediate.wait = .zero
                leases = carried.isEmpty ? try await source.lease(immediate) : try await lease(immediate, carrying: carried)
                toldTools = toolsVersion
                if leases.isEmpty, request.wait > .zero, !stopSignal.isOpen {
                    // A long-poll may last: what finishes meanwhile is reported on its own.
                    outcomes.setCarrying(false)
                    sentAt = clock.now()
                    var longPoll = request
                    longPoll.tools = nil
                    leases = try await source.lease(longPoll, unless: stopSignal, tryAtOnce: false)
                }
            } catch {
                outcomes.setCarrying(false)
                logger.error("lease failed; retrying after the poll interval", metadata: ["error": "\(error)"])
                await untilStopped { try await self.clock.sleep(for: self.configuration.pollInterval) }
                continue
            }
            if stopSignal.isOpen {
                // Leased in the instant of the stop: give them back untouched.
                for lease in leases { _ = try? await source.release(leaseID: lease.leaseID, workerID: configuration.id) }
                break
            }
            slots.take(leases.count)
            counters.withLock { $0.tasksStarted += leases.count }
            // One look at the handlers per lease call, not one per task.
            let handlers = self.handlers.withLock { $0 }
            for lease in leases {
                let handler = handlers[lease.task.type]
                // Registered before its task starts, so that an interruption (a cancelled worker
                // interrupts every execution at once) reaches it however early it comes.
                let (id, control) = register(lease, sentAt: sentAt)
                control.attach(Task { await self.execute(lease, handler: handler, id: id, control: control) })
            }
        }
        // Nothing waits for a lease call any more: the reporting loop delivers it all.
        outcomes.setCarrying(false)
        await drain()
    }

    /// What one call may carry (the API takes up to 1,000 completions per call).
    static let completionsPerCall = 1000

    /// A lease call carrying finished tasks. Completions it could not deliver go to the
    /// reporting loop, which tries again: all of them when the call failed as a whole (one that
    /// landed before an answer was lost then comes back as a stale lease, and is logged).
    private func lease(_ request: LeaseRequest, carrying reports: [Report]) async throws -> [TaskLease] {
        let answer: (leases: [TaskLease], completions: [(any Error)?])
        do {
            answer = try await source.lease(request, completing: reports.map(\.completion))
        } catch {
            for report in reports { await outcomes.add(report) }
            throw error
        }
        for report in settle(reports, errors: answer.completions, lastTry: false) { await outcomes.add(report) }
        return answer.leases
    }

    /// Runs `operation` until it ends or `stop()` is called, whichever is first.
    private func untilStopped(_ operation: @escaping @Sendable () async throws -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await operation() }
            group.addTask { await self.stopSignal.wait() }
            await group.next()
            group.cancelAll()
        }
    }

    private func drain() async {
        guard slots.busy > 0 else { return }
        logger.info("draining", metadata: ["running": "\(slots.busy)", "drain_timeout": "\(configuration.drainTimeout)"])
        let deadline = (stoppedAt.withLock { $0 } ?? clock.now()) + configuration.drainTimeout
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.slots.waitUntilIdle() }
            group.addTask { try? await self.clock.sleep(until: deadline) }
            await group.next()
            group.cancelAll()
        }
        for execution in running.all { execution.control.interrupt(.draining) }
        // Executions are tasks of their own (so that each can be cancelled by its handle): run()
        // ends only once every one has, as a task group would wait for its children.
        await slots.waitUntilIdle(cancellable: false)
    }

    // MARK: Running one task

    private enum Outcome: Sendable {
        case succeeded(RawJSON?)
        case threw(any Error)
        case interrupted(Interruption)

        /// For the logs.
        var name: String {
            switch self {
            case .succeeded: "succeeded"
            case .threw: "threw"
            case .interrupted(.timedOut): "timed_out"
            case .interrupted(.cancelRequested): "cancel_requested"
            case .interrupted(.leaseLost): "lease_lost"
            case .interrupted(.fenced): "fenced"
            case .interrupted(.draining): "draining"
            }
        }
    }

    /// Registers an execution with the supervisor (its deadline, its heartbeats, its fence).
    private func register(_ lease: TaskLease, sentAt: Timestamp) -> (id: Int, control: ExecutionControl) {
        let control = ExecutionControl()
        let timeout = min(Duration.milliseconds(lease.task.timeoutMS), configuration.taskTimeout ?? .milliseconds(lease.task.timeoutMS))
        // The lease's length as the server granted it: both times are the server's own.
        let granted = lease.task.startedAt.map { lease.expiresAt - $0 }
        let leaseLength = granted.flatMap { $0 > .zero ? $0 : nil } ?? configuration.leaseDuration ?? timeout
        let fenceAfter = leaseLength - min(configuration.fenceMargin, leaseLength / 4)
        let now = clock.now()
        let id = running.add(
            RunningExecutions.Execution(
                leaseID: lease.leaseID, control: control, deadline: now + timeout, timeout: timeout,
                heartbeatEvery: min(leaseLength / 3, configuration.cancelCheckInterval), lastHeartbeat: now,
                fenceAfter: fenceAfter, fenceAt: sentAt + fenceAfter))
        // A lease that arrives after its fence (its answer held up by a partition) may already be
        // someone else's: its handler is never started.
        if now >= sentAt + fenceAfter { control.interrupt(.fenced) }
        return (id, control)
    }

    private func execute(_ lease: TaskLease, handler: Handler?, id executionID: Int, control: ExecutionControl) async {
        let task = lease.task
        let context = TaskContext(
            task: task, leaseID: lease.leaseID, fencingToken: lease.fencingToken, workerID: configuration.id, locks: locks, tools: tools,
            workerLogger: logger)
        let started = ContinuousClock.now
        let finished: Outcome
        if let reason = control.reason {
            // Interrupted before it began (fenced on arrival, a stop): the handler is not run.
            finished = .interrupted(reason)
        } else {
            // Debug lines a fault harness reads to check that handlers of one lock key never
            // overlap (IntegrationTests/faults): when each handler ran, under which lease and token.
            logger.debug(
                "handler started",
                metadata: [
                    "task_id": "\(task.id)", "lease_id": "\(lease.leaseID)", "attempt": "\(task.attempts)",
                    "lock_key": "\(task.lockKey ?? "")", "fencing_token": "\(lease.fencingToken.map(String.init) ?? "")",
                ])
            if let handler {
                do { finished = .succeeded(try await handler(context)) } catch { finished = .threw(error) }
            } else {
                finished = .threw(TaskFailure.permanent("no handler for task type '\(task.type)' on worker \(configuration.id)"))
            }
        }
        let interruption = control.end()
        running.remove(executionID)
        let elapsed = ContinuousClock.now - started
        // Whatever the handler made of it, an execution interrupted while it ran ends as interrupted.
        let outcome = interruption.map(Outcome.interrupted) ?? finished
        logger.debug("handler ended", metadata: ["task_id": "\(task.id)", "lease_id": "\(lease.leaseID)", "outcome": "\(outcome.name)"])
        // The slot is free once the handler is: the next task may start while this outcome is
        // on its way (a remote worker would otherwise idle a slot for a round trip per task).
        // The outcome is handed over first, so that the lease call the free slot prompts finds
        // a completion ready to carry.
        let succeeded = if case .succeeded = outcome { true } else { false }
        await outcomes.add(Report(outcome: outcome, leaseID: lease.leaseID, taskID: task.id, elapsed: elapsed), carriable: succeeded)
        slots.give()
    }

    // MARK: Reporting

    /// Delivers outcomes until the worker has stopped and every one is delivered: completions
    /// that finished meanwhile go together in one batch, the rest one by one.
    private func reportOutcomes() async {
        while let reports = await outcomes.next() {
            var completions: [Report] = []
            for report in reports {
                if case .succeeded = report.outcome {
                    completions.append(report)
                } else {
                    await reportOne(report)
                }
            }
            if !completions.isEmpty { await complete(completions) }
        }
    }

    /// Completes a batch; while the source is unavailable (a Redis restart, a lost connection)
    /// it tries again with backoff rather than leave the tasks to run twice. A stale lease is
    /// not retried: the task is someone else's.
    private func complete(_ reports: [Report]) async {
        var pending = reports
        for attempt in 1...Self.reportAttempts {
            let errors: [(any Error)?]
            do {
                errors = try await source.complete(leases: pending.map(\.completion))
            } catch {
                errors = Array(repeating: error, count: pending.count)
            }
            let unavailable = settle(pending, errors: errors, lastTry: attempt == Self.reportAttempts)
            guard !unavailable.isEmpty else { return }
            logger.notice(
                "could not report outcomes yet; trying again", metadata: ["tasks": "\(unavailable.count)", "attempt": "\(attempt)"])
            guard (try? await clock.sleep(for: Self.reportBackoff.delay(afterAttempt: attempt))) != nil else { return }
            pending = unavailable
        }
    }

    /// Counts the completions that went through and logs the lost ones (the lease expired or
    /// was taken meanwhile; at-least-once delivery runs the task again); returns those the source
    /// could not take yet, to be tried again — none on the last try.
    private func settle(_ reports: [Report], errors: [(any Error)?], lastTry: Bool) -> [Report] {
        var unavailable: [Report] = []
        var completed = 0
        var duration = Duration.zero
        for (index, report) in reports.enumerated() {
            // An answer without every item says nothing of the missing ones: try them again.
            let error = index < errors.count ? errors[index] : SwitchboardError.unavailable("no answer for this completion")
            switch error {
            case nil:
                completed += 1
                duration += report.elapsed
                logDelivery(report, accepted: true)
            case let error as SwitchboardError where error.isTransient && !lastTry:
                unavailable.append(report)
            case let error?:
                logger.warning("could not report the outcome", metadata: ["task_id": "\(report.taskID)", "error": "\(error)"])
                logDelivery(report, accepted: false)
            }
        }
        counters.withLock {
            $0.tasksCompleted += completed
            $0.totalDuration += duration
        }
        return unavailable
    }

    /// Reports an outcome other than success, retrying while the source is unavailable.
    private func reportOne(_ report: Report) async {
        for attempt in 1...Self.reportAttempts {
            do {
                if try await deliver(report) { logDelivery(report, accepted: true) }
                return
            } catch let error as SwitchboardError where error.isTransient && attempt < Self.reportAttempts {
                logger.notice(
                    "could not report the outcome yet; trying again",
                    metadata: ["task_id": "\(report.taskID)", "attempt": "\(attempt)", "error": "\(error)"])
                guard (try? await clock.sleep(for: Self.reportBackoff.delay(afterAttempt: attempt))) != nil else { break }
            } catch {
                logger.warning("could not report the outcome", metadata: ["task_id": "\(report.taskID)", "error": "\(error)"])
                logDelivery(report, accepted: false)
                return
            }
        }
    }

    /// Whether the server took an outcome (a completion, failure or release) as the lease's:
    /// with "handler ended", what a fault harness needs to tell a fenced zombie from a holder.
    private func logDelivery(_ report: Report, accepted: Bool) {
        logger.debug(
            "outcome reported",
            metadata: [
                "task_id": "\(report.taskID)", "lease_id": "\(report.leaseID)", "outcome": "\(report.outcome.name)",
                "accepted": "\(accepted)",
            ])
    }

    /// Tries over about six seconds (0.1 s doubling), within a default lease's grace.
    static let reportAttempts = 7
    /// 100 ms doubling: about six seconds over the attempts, then the lease's expiry takes over.
    static let reportBackoff = Backoff(base: .milliseconds(100), cap: .seconds(5), jitter: .none)

    /// Sends the outcome to the source, if it sends anything (a lost or fenced lease is not
    /// the worker's to report on); whether it sent.
    private func deliver(_ report: Report) async throws -> Bool {
        let (leaseID, elapsed) = (report.leaseID, report.elapsed)
        switch report.outcome {
        case .succeeded(let result):
            _ = try await source.complete(leaseID: leaseID, result: result)
            counters.withLock {
                $0.tasksCompleted += 1
                $0.totalDuration += elapsed
            }
        case .threw(let error as TaskFailure):
            try await fail(leaseID, TaskFailure(error.message, retryable: error.retryable), elapsed: elapsed)
        case .threw(let error) where error is CancellationError && Task.isCancelled:
            // The worker itself is being torn down: give the task back untouched.
            _ = try await source.release(leaseID: leaseID, workerID: configuration.id)
            counters.withLock { $0.tasksReleased += 1 }
        case .threw(let error):
            try await fail(leaseID, TaskFailure(String(describing: error)), elapsed: elapsed)
        case .interrupted(.timedOut(let timeout)):
            try await fail(leaseID, TaskFailure("timed out after \(timeout.wholeMilliseconds) ms"), elapsed: elapsed)
        case .interrupted(.cancelRequested):
            try await fail(leaseID, .permanent("cancelled on request"), elapsed: elapsed)
        case .interrupted(.draining):
            _ = try await source.release(leaseID: leaseID, workerID: configuration.id)
            counters.withLock { $0.tasksReleased += 1 }
        case .interrupted(.leaseLost):
            logger.warning("lease lost while running; the task is someone else's now", metadata: ["task_id": "\(report.taskID)"])
            return false
        case .interrupted(.fenced):
            // Nothing is sent: the lease may already be someone else's.
            counters.withLock { $0.tasksFenced += 1 }
            logger.warning(
                "lease not confirmed in time; the handler was stopped and the task given up (it is reaped and run again)",
                metadata: ["task_id": "\(report.taskID)", "lease_id": "\(leaseID)"])
            return false
        }
        return true
    }

    private func fail(_ leaseID: String, _ failure: TaskFailure, elapsed: Duration) async throws {
        let task = try await source.fail(
            leaseID: leaseID,
            failure: TaskFailureReport(
                message: failure.message, retryable: failure.retryable, maxRetries: configuration.maxRetries,
                retryDelay: configuration.retryDelay))
        counters.withLock {
            $0.tasksFailed += 1
            $0.totalDuration += elapsed
            if task.status == .retrying { $0.tasksRetried += 1 }
        }
    }

    // MARK: Supervision

    /// Heartbeats running tasks every `heartbeatInterval` (each as often as its lease needs),
    /// learns of cancel requests and lost leases, and interrupts tasks past their timeout or
    /// fence: one loop and one timer for the whole worker.
    ///
    /// Heartbeats are sent as calls of their own, which the loop does not await: one that hangs
    /// (a black-holed connection waits for the client's timeout) must not hold back the fence
    /// that exists for exactly that case. An execution has at most one heartbeat in flight.
    private func supervise() async {
        await withDiscardingTaskGroup { heartbeats in
            var nextBeat = clock.now() + configuration.heartbeatInterval
            while !Task.isCancelled {
                let now = clock.now()
                let onBeat = now >= nextBeat
                for execution in running.dueForHeartbeat(at: now, onBeat: onBeat) {
                    heartbeats.addTask { await self.heartbeat(execution, sentAt: now) }
                }
                if onBeat { nextBeat = now + configuration.heartbeatInterval }
                let (timedOut, fenced, wakeAt) = running.overdue(at: now, wakeBy: nextBeat)
                for execution in timedOut { execution.control.interrupt(.timedOut(execution.timeout)) }
                for execution in fenced { execution.control.interrupt(.fenced) }
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { try? await self.clock.sleep(until: wakeAt) }
                    group.addTask { await self.running.waitForEarlierDeadline() }
                    await group.next()
                    group.cancelAll()
                }
            }
            heartbeats.cancelAll()
        }
    }

    private func heartbeat(_ execution: RunningExecutions.Execution, sentAt: Timestamp) async {
        do {
            let status = try await source.heartbeat(
                leaseID: execution.leaseID, extendBy: configuration.leaseDuration, workerID: configuration.id)
            running.heartbeatConfirmed(execution.id, sentAt: sentAt)
            if status.cancelRequested { execution.control.interrupt(.cancelRequested) }
        } catch let error as SwitchboardError where error.kind == .conflict || error.kind == .notFound {
            running.heartbeatTried(execution.id)
            execution.control.interrupt(.leaseLost)
        } catch {
            running.heartbeatTried(execution.id)
            if !Task.isCancelled {
                logger.warning("heartbeat failed", metadata: ["lease_id": "\(execution.leaseID)", "error": "\(error)"])
            }
        }
    }

    // MARK: The built-in tool_call handler

    /// Looks `payload.tool_name` up in the registry and runs it with `payload.input`.
    @Sendable static func toolCallHandler(_ context: TaskContext) async throws -> RawJSON? {
        guard let payload = try? JSONObjectReader(context.task.payload.bytes), let name = try? payload.string("tool_name") else {
            throw TaskFailure.permanent("a tool_call payload needs a string tool_name")
        }
        guard let tool = context.tools.tool(named: name) else {
            throw TaskFailure.permanent("unknown tool '\(name)'; this worker has: \(context.tools.names.joined(separator: ", "))")
        }
        return try await tool.execute(input: payload.raw("input") ?? .null)
    }
}

extension Logger {
    fileprivate func with(taskID: String) -> Logger {
        var copy = self
        copy[metadataKey: "task_id"] = "\(taskID)"
        return copy
    }
}
