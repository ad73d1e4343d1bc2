import Logging
import ServiceLifecycle
@testable import SwitchboardCore
import SwitchboardJSON
import SwitchboardTesting
import Synchronization
import Testing

@Suite("Worker", .timeLimit(.minutes(1)))
struct WorkerTests {
    let h = EngineHarness()

    func makeWorker(
        concurrency: Int = 4, drainTimeout: Duration = .seconds(30), leaseDuration: Duration? = nil, source: (any TaskSource)? = nil,
        configure: (inout Worker.Configuration) -> Void = { _ in }
    ) -> Worker {
        var configuration = Worker.Configuration(
            id: "worker-1", concurrency: concurrency, pollInterval: .seconds(1), drainTimeout: drainTimeout,
            leaseDuration: leaseDuration, heartbeatInterval: .seconds(1))
        configure(&configuration)
        return Worker(
            configuration: configuration, source: source ?? h.engine, locks: MemoryLockService(clock: h.clock),
            tools: .builtins(clock: h.clock), clock: h.clock)
    }

    /// Runs the worker while `body` runs, then stops it and waits for it to finish.
    func running(_ worker: Worker, _ body: () async throws -> Void) async throws {
        let run = Task { try await worker.run() }
        do {
            try await body()
        } catch {
            worker.stop()
            _ = try? await run.value
            throw error
        }
        worker.stop()
        try await run.value
    }

    func status(_ id: String) async throws -> TaskStatus { try await h.engine.task(id: id).status }

    /// Waits until exactly `count` timers sleep on the manual clock, so an advance reaches all
    /// of them. A worker running one task has: its supervisor (heartbeats and timeouts, one timer
    /// for all tasks), its lease long-poll, and the sleep tool when the task is a sleep.
    func settled(_ count: Int) async throws {
        try await eventually("\(count) sleepers") { h.clock.sleeperCount == count }
    }

    @Test("tool calls run to completion and the metrics add up")
    func toolCalls() async throws {
        let worker = makeWorker()
        let ids = try await h.engine.enqueue(batch: (0..<20).map { echo(#"{"i":\#($0)}"#) }).map(\.task.id)
        try await running(worker) {
            try await eventually("all completed") { worker.metrics.tasksCompleted == 20 }
        }
        for (i, id) in ids.enumerated() {
            let task = try await h.engine.task(id: id)
            #expect(task.status == .completed)
            #expect(task.result == json(#"{"i":\#(i)}"#))
            #expect(task.workerID == "worker-1")
        }
        let m = worker.metrics
        #expect(m.tasksStarted == 20 && m.tasksFailed == 0 && m.tasksRetried == 0 && m.tasksReleased == 0)
        #expect(m.averageTaskDuration == m.totalDuration / 20)
        #expect(h.counter("switchboard_tasks_completed_total") == 20)
    }

    @Test("a worker with more slots than one lease call may ask for leases in several calls")
    func moreSlotsThanOneLease() async throws {
        let worker = makeWorker(concurrency: 1500)
        _ = try await h.engine.enqueue(batch: (0..<1000).map { _ in echo() })
        _ = try await h.engine.enqueue(batch: (0..<200).map { _ in echo() })
        try await running(worker) {
            try await eventually("all completed") { worker.metrics.tasksCompleted == 1200 }
        }
        #expect(worker.metrics.tasksFailed == 0)
    }

    @Test("a completion the source could not take is sent again, alone, until it lands; the others land once")
    func reportRetriedWhileUnavailable() async throws {
        let source = FirstCompletionUnavailable(engine: h.engine, times: 2)
        let worker = makeWorker(concurrency: 8, source: source)
        let ids = try await h.engine.enqueue(batch: (0..<5).map { _ in echo() }).map(\.task.id)
        try await running(worker) {
            // The worker waits out its backoff on the manual clock.
            try await eventually("all reported") {
                h.clock.advance(by: .milliseconds(200))
                return worker.metrics.tasksCompleted == 5
            }
        }
        #expect(source.refusals == 2, "refused twice, then taken")
        #expect(worker.metrics.tasksCompleted == 5, "each completion counted once")
        for id in ids {
            let task = try await h.engine.task(id: id)
            #expect(task.status == .completed && task.attempts == 1)
        }
    }

    @Test("a busy queue is leased without waiting; only an empty one is long-polled")
    func longPollOnlyWhenEmpty() async throws {
        let source = LeaseRecording(engine: h.engine)
        let worker = makeWorker(concurrency: 8, source: source)
        _ = try await h.engine.enqueue(batch: (0..<5).map { _ in echo() })
        try await running(worker) {
            try await eventually("all completed") { worker.metrics.tasksCompleted == 5 }
            try await eventually("then long-polling") { source.calls.contains { $0.wait > .zero } }
        }
        let calls = source.calls
        #expect(calls.first?.wait == .zero && calls.first?.leased == 5, "the ready tasks came from a call that does not wait")
        for (index, call) in calls.enumerated() where call.wait > .zero {
            #expect(call.wait == .seconds(1))
            #expect(index > 0 && calls[index - 1].wait == .zero && calls[index - 1].leased == 0, "a long-poll follows an empty look")
        }
    }

    @Test("finished tasks ride on the next lease call; none is lost or counted twice")
    func completionsCarried() async throws {
        let source = CarryRecording(engine: h.engine, refusals: 0)
        let worker = makeWorker(concurrency: 2, source: source)
        let ids = try await h.engine.enqueue(batch: (0..<6).map { _ in echo() }).map(\.task.id)
        try await running(worker) {
            try await eventually("all completed") { worker.metrics.tasksCompleted == 6 }
        }
        // Both slots busy: the lease loop waits for one, and the completion that frees it goes
        // with the call that fills it.
        #expect(source.carried >= 2, "completions went with lease calls")
        #expect(source.carried + source.reportedAlone == 6, "each completion sent once")
        #expect(worker.metrics.tasksCompleted == 6)
        for id in ids { #expect(try await h.engine.task(id: id).status == .completed) }
    }

    @Test("a source whose lease and completion are separate calls (in-process) gets completions from the reporting loop")
    func completionsNotCarriedInProcess() async throws {
        let source = CarryRecording(engine: h.engine, refusals: 0, carries: false)
        let worker = makeWorker(concurrency: 2, source: source)
        _ = try await h.engine.enqueue(batch: (0..<6).map { _ in echo() })
        try await running(worker) {
            try await eventually("all completed") { worker.metrics.tasksCompleted == 6 }
        }
        #expect(source.carried == 0)
        #expect(source.reportedAlone == 6)
    }

    @Test("completions a lease call failed to carry are reported on their own, once")
    func carriedCompletionsNotLost() async throws {
        let source = CarryRecording(engine: h.engine, refusals: 1)
        let worker = makeWorker(concurrency: 2, source: source)
        let ids = try await h.engine.enqueue(batch: (0..<4).map { _ in echo() }).map(\.task.id)
        try await running(worker) {
            try await eventually("all completed") {
                // The failed lease call backs off for the poll interval on the manual clock.
                h.clock.advance(by: .milliseconds(200))
                return worker.metrics.tasksCompleted == 4
            }
        }
        #expect(source.refused >= 1, "a carrying call failed")
        #expect(worker.metrics.tasksCompleted == 4, "each completion counted once")
        for id in ids {
            let task = try await h.engine.task(id: id)
            #expect(task.status == .completed && task.attempts == 1)
        }
    }

    @Test("the concurrency bound is respected")
    func concurrencyBound() async throws {
        let worker = makeWorker(concurrency: 3)
        let gate = Gate()
        let running = Shared((now: 0, max: 0))
        worker.registerHandler(for: "block") { _ in
            running.withLock { $0.now += 1; $0.max = max($0.max, $0.now) }
            await gate.wait()
            running.withLock { $0.now -= 1 }
            return nil
        }
        _ = try await h.engine.enqueue(batch: (0..<10).map { _ in TaskSubmission(type: "block", payload: .null) })
        try await self.running(worker) {
            try await eventually("three running") { running.value.now == 3 }
            #expect(worker.busySlots == 3)
            #expect(try await h.engine.list(TaskFilter(status: .pending)).items.count == 7, "the rest stay queued")
            gate.open()
            try await eventually("all completed") { worker.metrics.tasksCompleted == 10 }
        }
        #expect(running.value.max == 3)
    }

    @Test("a task over its timeout fails the attempt and is retried")
    func timeout() async throws {
        let worker = makeWorker()
        var submission = TaskSubmission.toolCall("sleep", input: json(#"{"ms": 60000}"#))
        submission.timeoutMS = 1000
        let id = try await h.engine.enqueue(submission).task.id
        try await running(worker) {
            try await settled(3)
            h.clock.advance(by: .seconds(1))
            try await eventually("failed") { try await status(id) == .retrying }
        }
        let task = try await h.engine.task(id: id)
        #expect(task.error == "timed out after 1000 ms")
        #expect(worker.metrics.tasksFailed == 1 && worker.metrics.tasksRetried == 1)
    }

    @Test("a handler that ignores its timeout's cancellation is waited for, with the supervisor asleep meanwhile")
    func stubbornHandler() async throws {
        let worker = makeWorker()
        let gate = Gate()
        worker.registerHandler(for: "stubborn") { _ in
            await gate.wait()  // does not look at cancellation
            return nil
        }
        var submission = TaskSubmission(type: "stubborn", payload: .null)
        submission.timeoutMS = 1000
        let id = try await h.engine.enqueue(submission).task.id
        try await running(worker) {
            try await settled(2)
            h.clock.advance(by: .seconds(1))
            // Past the deadline: interrupted once, then the supervisor sleeps again (no busy loop).
            try await settled(2)
            #expect(try await status(id) == .running, "the outcome waits for the handler")
            gate.open()
            try await eventually("failed") { try await status(id) == .retrying }
        }
        #expect(try await h.engine.task(id: id).error == "timed out after 1000 ms")
    }

    @Test("the worker's task timeout caps the task's own")
    func workerTimeoutCap() async throws {
        let worker = makeWorker { $0.taskTimeout = .milliseconds(500) }
        let id = try await h.engine.enqueue(TaskSubmission.toolCall("sleep", input: json(#"{"ms": 60000}"#))).task.id
        try await running(worker) {
            try await settled(3)
            h.clock.advance(by: .milliseconds(500))
            try await eventually("failed") { try await status(id) == .retrying }
        }
        #expect(try await h.engine.task(id: id).error == "timed out after 500 ms")
    }

    @Test("an unknown tool is a permanent failure with a clear error")
    func unknownTool() async throws {
        let worker = makeWorker()
        let id = try await h.engine.enqueue(TaskSubmission.toolCall("launch_rockets")).task.id
        try await running(worker) {
            try await eventually("dead") { try await status(id) == .dead }
        }
        let error = try #require(try await h.engine.task(id: id).error)
        #expect(error.contains("unknown tool 'launch_rockets'") && error.contains("echo"))
    }

    @Test("the fail tool fails retryably unless told otherwise")
    func failTool() async throws {
        let worker = makeWorker()
        let retryable = try await h.engine.enqueue(TaskSubmission.toolCall("fail", input: json(#"{"message": "flaky"}"#))).task.id
        let permanent = try await h.engine.enqueue(
            TaskSubmission.toolCall("fail", input: json(#"{"message": "broken", "retryable": false}"#))).task.id
        try await running(worker) {
            try await eventually("both failed") { worker.metrics.tasksFailed == 2 }
        }
        #expect(try await h.engine.task(id: retryable).status == .retrying)
        #expect(try await h.engine.task(id: retryable).error == "flaky")
        #expect(try await h.engine.task(id: permanent).status == .dead)
        #expect(worker.metrics.tasksRetried == 1)
    }

    @Test("a task type without a handler is buried with a clear error")
    func noHandler() async throws {
        let worker = makeWorker()
        let id = try await h.engine.enqueue(TaskSubmission(type: "planning", payload: .emptyObject)).task.id
        try await running(worker) {
            try await eventually("dead") { try await status(id) == .dead }
        }
        #expect(try await h.engine.task(id: id).error?.contains("no handler for task type 'planning'") == true)
    }

    @Test("stop drains: no new leases, running tasks finish")
    func gracefulDrain() async throws {
        let worker = makeWorker()
        let gate = Gate()
        worker.registerHandler(for: "block") { _ in
            await gate.wait()
            return json(#""done""#)
        }
        let id = try await h.engine.enqueue(TaskSubmission(type: "block", payload: .null)).task.id
        let run = Task { try await worker.run() }
        try await eventually("running") { worker.busySlots == 1 }
        worker.stop()
        let late = try await h.engine.enqueue(echo()).task.id
        gate.open()
        try await run.value
        #expect(try await h.engine.task(id: id).status == .completed)
        #expect(try await h.engine.task(id: late).status == .pending, "nothing leased after stop")
        #expect(worker.metrics.tasksReleased == 0)
    }

    @Test("past the drain timeout, unfinished tasks are released without using an attempt")
    func drainTimeoutReleases() async throws {
        let worker = makeWorker(drainTimeout: .seconds(5))
        let id = try await h.engine.enqueue(TaskSubmission.toolCall("sleep", input: json(#"{"ms": 600000}"#))).task.id
        let run = Task { try await worker.run() }
        try await settled(3)
        worker.stop()
        h.clock.advance(by: .seconds(5))
        try await run.value
        let task = try await h.engine.task(id: id)
        #expect(task.status == .pending)
        #expect(task.attempts == 0)
        #expect(worker.metrics.tasksReleased == 1)
    }

    @Test("cancelling the worker's task interrupts running handlers at once and gives their tasks back")
    func cancelledWorker() async throws {
        // A drain timeout that never passes here: only the cancellation can end the handler.
        let worker = makeWorker(drainTimeout: .seconds(3600))
        let id = try await h.engine.enqueue(TaskSubmission.toolCall("sleep", input: json(#"{"ms": 600000}"#))).task.id
        let run = Task { try await worker.run() }
        try await settled(3)
        run.cancel()
        try await run.value
        let task = try await h.engine.task(id: id)
        #expect(task.status == .pending, "released, not failed")
        #expect(task.attempts == 0)
        #expect(worker.metrics.tasksReleased == 1)
        #expect(worker.busySlots == 0, "run() returned after the execution ended")
    }

    @Test("a cancel request reaches the handler through the heartbeat")
    func cancelRequested() async throws {
        let worker = makeWorker(leaseDuration: .seconds(3))
        let id = try await h.engine.enqueue(TaskSubmission.toolCall("sleep", input: json(#"{"ms": 600000}"#))).task.id
        try await running(worker) {
            try await settled(3)
            _ = try await h.engine.cancel(id: id)
            h.clock.advance(by: .seconds(1))
            try await eventually("cancelled") { try await status(id) == .cancelled }
        }
        #expect(try await h.engine.task(id: id).error == "cancelled on request")
    }

    @Test("a cancel request reaches a task with an hours-long lease within the cancel-check interval")
    func cancelLongTask() async throws {
        let worker = makeWorker()
        var submission = TaskSubmission.toolCall("sleep", input: json(#"{"ms": 3600000}"#))
        submission.timeoutMS = 7_200_000
        let id = try await h.engine.enqueue(submission).task.id
        try await running(worker) {
            try await settled(3)
            _ = try await h.engine.cancel(id: id)
            for _ in 0..<4 {
                h.clock.advance(by: .seconds(1))
                try await settled(3)
                #expect(try await status(id) == .running, "no heartbeat is due yet")
            }
            h.clock.advance(by: .seconds(1))
            try await eventually("cancelled") { try await status(id) == .cancelled }
        }
    }

    /// Heartbeats that fail at once (a refused connection) and heartbeats that never return (a
    /// black-holed connection waits for the client's timeout) both end in the fence.
    enum LostHeartbeats: CaseIterable, Sendable { case failing, hanging }

    @Test(
        "heartbeats lost in transit: the worker fences itself before its lease can be reaped, so the next worker never overlaps it",
        arguments: LostHeartbeats.allCases)
    func selfFencing(_ loss: LostHeartbeats) async throws {
        let clock = h.clock
        let active = Shared((now: 0, most: 0))
        let handler: Worker.Handler = { context in
            active.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            defer { active.withLock { $0.now -= 1 } }
            // The first attempt runs long; the one after the lease came back finishes at once.
            if context.task.attempts == 1 { try await clock.sleep(for: .seconds(3600)) }
            return nil
        }
        // A short lease kept alive by heartbeats, the usual way to run a long tool call; every
        // heartbeat is lost (a partition, a dead proxy).
        let source: any TaskSource = switch loss {
        case .failing: HeartbeatsLost(engine: h.engine)
        case .hanging: HeartbeatsHang(engine: h.engine)
        }
        let cut = makeWorker(leaseDuration: .seconds(3), source: source)
        cut.registerHandler(for: "long", handler)
        var submission = TaskSubmission(type: "long", payload: .null)
        submission.timeoutMS = 7_200_000
        let id = try await h.engine.enqueue(submission).task.id
        let runCut = Task { try await cut.run() }
        try await eventually("the first attempt runs") { active.value.now == 1 }
        // The fence: 3 s from the lease call, less a quarter of the lease (the margin is capped there).
        for _ in 0..<9 {
            clock.advance(by: .milliseconds(250))
            await Task.yield()
        }
        try await eventually("the handler was stopped before the lease ran out") { active.value.now == 0 }
        #expect(clock.now() < Timestamp(milliseconds: 1_795_000_000_000) + .seconds(3))
        #expect(try await status(id) == .running, "the server still holds the lease")
        cut.stop()
        try await runCut.value
        #expect(cut.metrics.tasksFenced == 1)
        #expect(cut.metrics.tasksCompleted == 0 && cut.metrics.tasksFailed == 0, "nothing was reported for a fenced task")

        // The lease runs out and is reaped; the retry goes to another worker.
        clock.advance(by: .seconds(1))
        _ = try await h.engine.performMaintenance()
        #expect(try await status(id) == .retrying)
        clock.advance(by: .seconds(2))
        let next = makeWorker()
        next.registerHandler(for: "long", handler)
        try await running(next) {
            try await eventually("the retry completed") { try await status(id) == .completed }
        }
        #expect(active.value.most == 1, "never two handlers of the task at once")
        let task = try await h.engine.task(id: id)
        #expect(task.attempts == 2 && task.errors.count == 1, "one failed attempt: the reaped lease")
    }

    @Test("a lease whose answer arrives after its fence (held up by a partition) is given up without running its handler")
    func fencedOnArrival() async throws {
        let ran = Shared(0)
        let worker = makeWorker(leaseDuration: .seconds(3), source: SlowFirstLeaseAnswer(engine: h.engine, clock: h.clock, delay: .seconds(3)))
        worker.registerHandler(for: "job") { _ in
            ran.withLock { $0 += 1 }
            return nil
        }
        let id = try await h.engine.enqueue(TaskSubmission(type: "job", payload: .null)).task.id
        try await running(worker) {
            try await eventually("given up") { worker.metrics.tasksFenced == 1 }
        }
        #expect(ran.value == 0, "the handler never ran")
        #expect(try await status(id) == .running, "nothing was reported: the lease runs out and is reaped")
    }

    @Test("a lease that arrives close to its fence (leased at the end of a long-poll) is heartbeaten at once and runs to the end")
    func lateLeaseConfirmedAtOnce() async throws {
        let clock = h.clock
        let finished = Shared(false)
        // The answer comes 2 s after the call: with a 3 s lease, 0.25 s before the fence, well
        // before the worker's next beat.
        let worker = makeWorker(leaseDuration: .seconds(3), source: SlowFirstLeaseAnswer(engine: h.engine, clock: clock, delay: .seconds(2)))
        worker.registerHandler(for: "job") { _ in
            try await clock.sleep(for: .seconds(2))
            finished.withLock { $0 = true }
            return nil
        }
        let id = try await h.engine.enqueue(TaskSubmission(type: "job", payload: .null)).task.id
        try await running(worker) {
            // Running: the supervisor, the long-poll and the handler's sleep wait on the clock.
            try await settled(3)
            for _ in 0..<8 {
                clock.advance(by: .milliseconds(250))
                await Task.yield()
                try await eventually("the heartbeat answered") { h.clock.sleeperCount >= 2 }
            }
            try await eventually("completed") { try await status(id) == .completed }
        }
        #expect(finished.value)
        #expect(worker.metrics.tasksFenced == 0, "confirmed before its fence")
    }

    @Test("handlers of lock-keyed tasks get the lease's fencing token; a guard on the resource admits them in order and refuses a stale one")
    func fencingTokens() async throws {
        let worker = makeWorker(concurrency: 4)
        let seen = Shared<[UInt64?]>([])
        let resource = FencingGuard()
        worker.registerHandler(for: "write") { context in
            seen.withLock { $0.append(context.fencingToken) }
            if let token = context.fencingToken, let key = context.task.lockKey {
                guard resource.admit(key: key, token: token) else { throw TaskFailure.permanent("fenced out") }
            }
            return nil
        }
        var keyed = TaskSubmission(type: "write", payload: .null)
        keyed.lockKey = "repo-1"
        _ = try await h.engine.enqueue(batch: [keyed, keyed, keyed, TaskSubmission(type: "write", payload: .null)])
        try await running(worker) {
            try await eventually("all ran") { worker.metrics.tasksCompleted == 4 }
        }
        let tokens = seen.value.compactMap { $0 }
        #expect(tokens.count == 3 && seen.value.contains(nil), "a token for each keyed task, none for the other")
        #expect(tokens == tokens.sorted() && Set(tokens).count == 3, "the key's tasks ran one after another, tokens rising")
        #expect(!resource.admit(key: "repo-1", token: tokens[0]), "a zombie holding the first token is refused")
    }

    @Test("heartbeats keep a long task's lease alive")
    func heartbeats() async throws {
        let worker = makeWorker(leaseDuration: .seconds(3))
        let gate = Gate()
        worker.registerHandler(for: "block") { _ in
            await gate.wait()
            return nil
        }
        let id = try await h.engine.enqueue(TaskSubmission(type: "block", payload: .null)).task.id
        try await running(worker) {
            for _ in 0..<10 {
                try await settled(2)
                let before = try await h.engine.task(id: id).leaseExpiresAt!
                h.clock.advance(by: .seconds(1))
                try await eventually("extended") { try await h.engine.task(id: id).leaseExpiresAt! > before }
                try await h.engine.performMaintenance()
                #expect(try await status(id) == .running)
            }
            gate.open()
            try await eventually("completed") { try await status(id) == .completed }
        }
        #expect(try await h.engine.task(id: id).attempts == 1, "never reaped")
    }

    @Test("tasks sharing a lock key never run at once")
    func lockKeySerialisation() async throws {
        let worker = makeWorker(concurrency: 8)
        let active = Shared((now: 0, max: 0))
        worker.registerHandler(for: "guarded") { _ in
            active.withLock { $0.now += 1; $0.max = max($0.max, $0.now) }
            for _ in 0..<5 { await Task.yield() }
            active.withLock { $0.now -= 1 }
            return nil
        }
        _ = try await h.engine.enqueue(batch: (0..<12).map { _ in
            TaskSubmission(type: "guarded", payload: .null, lockKey: "repo-1")
        })
        try await running(worker) {
            try await eventually("all completed") { worker.metrics.tasksCompleted == 12 }
        }
        #expect(active.value.max == 1)
    }

    @Test("graceful shutdown of a service group stops the worker")
    func serviceLifecycle() async throws {
        let worker = makeWorker()
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: [.init(service: worker)], logger: Logger(label: "test")))
        let run = Task { try await group.run() }
        _ = try await h.engine.enqueue(echo())
        try await eventually("completed one") { worker.metrics.tasksCompleted == 1 }
        await group.triggerGracefulShutdown()
        try await run.value
    }
}

/// A task source that hands every call to an engine; the test sources below change only the
/// calls they watch or break.
protocol EngineBacked: TaskSource {
    var engine: TaskEngine { get }
}

extension EngineBacked {
    func lease(_ request: LeaseRequest) async throws -> [TaskLease] { try await engine.lease(request) }

    func heartbeat(leaseID: String, extendBy: Duration?, workerID: String?) async throws -> HeartbeatStatus {
        try await engine.heartbeat(leaseID: leaseID, extendBy: extendBy, workerID: workerID)
    }

    func complete(leaseID: String, result: RawJSON?) async throws -> TaskRecord {
        try await engine.complete(leaseID: leaseID, result: result)
    }

    func complete(leases completions: [LeaseCompletion]) async throws -> [(any Error)?] {
        try await engine.complete(leases: completions)
    }

    func fail(leaseID: String, failure: TaskFailureReport) async throws -> TaskRecord {
        try await engine.fail(leaseID: leaseID, failure: failure)
    }

    func release(leaseID: String, workerID: String?) async throws -> TaskRecord {
        try await engine.release(leaseID: leaseID, workerID: workerID)
    }
}

/// The engine as a task source whose heartbeats never arrive (a partition between worker and server).
final class HeartbeatsLost: EngineBacked {
    let engine: TaskEngine

    init(engine: TaskEngine) {
        self.engine = engine
    }

    func heartbeat(leaseID: String, extendBy: Duration?, workerID: String?) async throws -> HeartbeatStatus {
        throw SwitchboardError.unavailable("the heartbeat was lost in transit")
    }
}

/// The engine as a task source whose first lease answer comes `delay` late on the clock (held
/// up in transit).
final class SlowFirstLeaseAnswer: EngineBacked {
    let engine: TaskEngine
    let clock: ManualClock
    let delay: Duration
    private let first = Mutex(true)

    init(engine: TaskEngine, clock: ManualClock, delay: Duration) {
        self.engine = engine
        self.clock = clock
        self.delay = delay
    }

    func lease(_ request: LeaseRequest) async throws -> [TaskLease] {
        let leases = try await engine.lease(request)
        let isFirst = !leases.isEmpty && first.withLock { value -> Bool in
            let was = value
            value = false
            return was
        }
        if isFirst { clock.advance(by: delay) }
        return leases
    }
}

/// The engine as a task source whose heartbeats are sent and never answered (a black-holed
/// connection): each waits until it is cancelled.
final class HeartbeatsHang: EngineBacked {
    let engine: TaskEngine

    init(engine: TaskEngine) {
        self.engine = engine
    }

    func heartbeat(leaseID: String, extendBy: Duration?, workerID: String?) async throws -> HeartbeatStatus {
        await Latch().wait()
        throw CancellationError()
    }
}

/// The engine as a task source, except that the first completion of each batch is refused as
/// unavailable (a Redis restart, a lost connection) the first `times` times.
final class FirstCompletionUnavailable: EngineBacked {
    let engine: TaskEngine
    private let left: Mutex<Int>
    private let refused = Mutex(0)

    init(engine: TaskEngine, times: Int) {
        self.engine = engine
        left = Mutex(times)
    }

    var refusals: Int { refused.withLock { $0 } }

    func complete(leases completions: [LeaseCompletion]) async throws -> [(any Error)?] {
        let refuse = left.withLock { left in
            guard left > 0 else { return false }
            left -= 1
            return true
        }
        guard refuse else { return try await engine.complete(leases: completions) }
        refused.withLock { $0 += 1 }
        let rest = completions.count > 1 ? try await engine.complete(leases: Array(completions.dropFirst())) : []
        return [SwitchboardError.unavailable("the backend is restarting")] + rest
    }
}

/// The engine as a task source that records each lease call: how long it asked to wait and how
/// many tasks it got.
final class LeaseRecording: EngineBacked {
    let engine: TaskEngine
    private let recorded = Mutex<[(wait: Duration, leased: Int)]>([])

    init(engine: TaskEngine) {
        self.engine = engine
    }

    var calls: [(wait: Duration, leased: Int)] { recorded.withLock { $0 } }

    /// Recorded as it starts (a long-poll may not end before the test looks), its count filled
    /// in when it returns (-1 until then).
    func lease(_ request: LeaseRequest) async throws -> [TaskLease] {
        let index = recorded.withLock { calls in
            calls.append((request.wait, -1))
            return calls.count - 1
        }
        let leases = try await engine.lease(request)
        recorded.withLock { $0[index].leased = leases.count }
        return leases
    }
}

/// The engine as a task source that counts completions carried on lease calls and those sent
/// on their own; the first `refusals` carrying calls fail as unavailable, having done nothing.
final class CarryRecording: EngineBacked {
    let engine: TaskEngine
    private let counts = Mutex((carried: 0, alone: 0, refusalsLeft: 0, refused: 0))

    init(engine: TaskEngine, refusals: Int, carries: Bool = true) {
        self.engine = engine
        carriesCompletionsOnLease = carries
        counts.withLock { $0.refusalsLeft = refusals }
    }

    let carriesCompletionsOnLease: Bool

    var carried: Int { counts.withLock { $0.carried } }
    var reportedAlone: Int { counts.withLock { $0.alone } }
    var refused: Int { counts.withLock { $0.refused } }

    func lease(
        _ request: LeaseRequest, completing completions: [LeaseCompletion]
    ) async throws -> (leases: [TaskLease], completions: [(any Error)?]) {
        let refuse = counts.withLock { c in
            guard !completions.isEmpty, c.refusalsLeft > 0 else { return false }
            c.refusalsLeft -= 1
            c.refused += 1
            return true
        }
        if refuse { throw SwitchboardError.unavailable("the server is restarting") }
        counts.withLock { $0.carried += completions.count }
        let outcomes = try await engine.complete(leases: completions)
        return (try await engine.lease(request), outcomes)
    }

    func complete(leaseID: String, result: RawJSON?) async throws -> TaskRecord {
        counts.withLock { $0.alone += 1 }
        return try await engine.complete(leaseID: leaseID, result: result)
    }

    func complete(leases completions: [LeaseCompletion]) async throws -> [(any Error)?] {
        counts.withLock { $0.alone += completions.count }
        return try await engine.complete(leases: completions)
    }
}
