import MetricsTestKit
@testable import SwitchboardCore
import SwitchboardJSON
import SwitchboardTesting
import Synchronization
import Testing

@Suite("Engine", .timeLimit(.minutes(1)))
struct EngineTests {
    @Test("enqueue fills in defaults and a time-ordered id")
    func defaults() async throws {
        let h = EngineHarness()
        let outcome = try await h.engine.enqueue(echo())
        let task = outcome.task
        #expect(outcome.created)
        #expect(task.queue == "default")
        #expect(task.type == "tool_call")
        #expect(task.status == .pending)
        #expect(task.maxRetries == 3)
        #expect(task.timeoutMS == 30_000)
        #expect(task.priority == 0)
        #expect(task.attempts == 0)
        #expect(UUIDv7.timestamp(of: task.id) == h.clock.now())
        #expect(task.createdAt == h.clock.now())
        let second = try await h.engine.enqueue(echo()).task
        #expect(second.id != task.id)
    }

    @Test("bad input is refused with the field named, and nothing is stored", arguments: [
        (TaskSubmission(type: "Bad Type", payload: .emptyObject), SwitchboardError.Kind.invalid, "type"),
        (TaskSubmission(queue: "has space", type: "x", payload: .emptyObject), .invalid, "queue"),
        (TaskSubmission(queue: "sb:{x}", type: "x", payload: .emptyObject), .invalid, "queue"),
        (TaskSubmission(type: "x", priority: 256, payload: .emptyObject), .invalid, "priority"),
        (TaskSubmission(type: "x", priority: -1, payload: .emptyObject), .invalid, "priority"),
        (TaskSubmission(type: "x", payload: .emptyObject, maxRetries: -1), .invalid, "max_retries"),
        (TaskSubmission(type: "x", payload: .emptyObject, timeoutMS: 0), .invalid, "timeout_ms"),
        (TaskSubmission(type: "x", payload: .emptyObject, delayMS: -5), .invalid, "delay_ms"),
        (TaskSubmission(type: "x", payload: .emptyObject, notBefore: Timestamp(milliseconds: 0), delayMS: 5), .invalid, "not both"),
        (TaskSubmission(id: "a/b", type: "x", payload: .emptyObject), .invalid, "id"),
        (TaskSubmission(type: "x", runID: String(repeating: "r", count: 129), payload: .emptyObject), .invalid, "run_id"),
        (TaskSubmission(type: "x", metadata: ["": "v"], payload: .emptyObject), .invalid, "metadata"),
        (TaskSubmission(type: "x", metadata: Dictionary(uniqueKeysWithValues: (0..<33).map { ("k\($0)", "v") }), payload: .emptyObject), .invalid, "metadata"),
        (TaskSubmission(type: "x", payload: .emptyObject, lockKey: ""), .invalid, "lock_key"),
        (TaskSubmission(type: "tool_call", payload: .emptyObject), .invalid, "tool_name"),
        (TaskSubmission(type: "tool_call", payload: json(#"{"tool_name": 5}"#)), .invalid, "tool_name"),
        (TaskSubmission(type: "tool_call", payload: json(#"{"tool_name": "echo", "reason": 1}"#)), .invalid, "reason"),
        (TaskSubmission(type: "x", payload: RawJSON(unchecked: Array(repeating: 0x20, count: 256 * 1024 + 1))), .tooLarge, "payload"),
    ])
    func invalid(_ submission: TaskSubmission, _ kind: SwitchboardError.Kind, _ field: String) async throws {
        let h = EngineHarness()
        await expectError(kind, mentioning: field) { try await h.engine.enqueue(submission) }
        #expect(try await h.engine.list().items.isEmpty)
    }

    @Test("a batch with one bad item stores nothing and names the item")
    func atomicBatch() async throws {
        let h = EngineHarness()
        await expectError(.invalid, mentioning: "items[1]") {
            try await h.engine.enqueue(batch: [echo(), TaskSubmission(type: "BAD", payload: .null), echo()])
        }
        #expect(try await h.engine.list().items.isEmpty)
        let stored = try await h.engine.enqueue(batch: [echo(), echo()])
        #expect(stored.count == 2 && stored.allSatisfy(\.created))
        await expectError(.invalid) { try await h.engine.enqueue(batch: []) }
    }

    @Test("idempotency key replays return the first task")
    func idempotency() async throws {
        let h = EngineHarness()
        var submission = echo()
        submission.idempotencyKey = "order-42"
        let first = try await h.engine.enqueue(submission)
        let replay = try await h.engine.enqueue(submission)
        #expect(first.created && !replay.created)
        #expect(first.task.id == replay.task.id)
        #expect(h.counter("switchboard_tasks_enqueued_total") == 1)
        // After the TTL the key is forgotten.
        h.clock.advance(by: h.engine.configuration.idempotencyTTL)
        try await h.engine.performMaintenance()
        #expect(try await h.engine.enqueue(submission).created)
    }

    @Test("delay_ms and not_before schedule; maintenance makes them ready")
    func scheduling() async throws {
        let h = EngineHarness()
        var delayed = echo()
        delayed.delayMS = 500
        let task = try await h.engine.enqueue(delayed).task
        #expect(task.status == .scheduled)
        #expect(task.notBefore == h.clock.now() + .milliseconds(500))
        #expect(try await h.engine.lease(LeaseRequest(workerID: "w")).isEmpty)
        let next = try await h.engine.performMaintenance()
        #expect(next == task.notBefore, "maintenance sleeps exactly until the task is due")
        h.clock.advance(by: .milliseconds(500))
        try await h.engine.performMaintenance()
        #expect(try await h.engine.task(id: task.id).status == .pending)
    }

    @Test("a waiting leaser is woken by an enqueue, without time passing")
    func longPollWokenByEnqueue() async throws {
        let h = EngineHarness()
        async let leased = h.engine.lease(LeaseRequest(workerID: "w", wait: .seconds(30)))
        await h.waitForLeasers()
        let task = try await h.engine.enqueue(echo()).task
        let got = try await leased
        #expect(got.map(\.task.id) == [task.id])
    }

    @Test("a waiting leaser on another queue stays asleep; it returns empty at its deadline")
    func longPollTimesOut() async throws {
        let h = EngineHarness()
        async let leased = h.engine.lease(LeaseRequest(workerID: "w", queues: ["other"], wait: .seconds(5)))
        await h.waitForLeasers()
        _ = try await h.engine.enqueue(echo())
        await h.clock.waitForSleepers()
        h.clock.advance(by: .seconds(5))
        #expect(try await leased.isEmpty)
    }

    @Test("a waiting leaser wakes when a scheduled task falls due")
    func longPollWakesAtDueTime() async throws {
        let h = EngineHarness()
        var delayed = echo()
        delayed.delayMS = 2000
        let task = try await h.engine.enqueue(delayed).task
        async let leased = h.engine.lease(LeaseRequest(workerID: "w", wait: .seconds(10)))
        await h.clock.waitForSleepers()
        h.clock.advance(by: .seconds(2))
        #expect(try await leased.map(\.task.id) == [task.id])
    }

    @Test("lease requests are validated", arguments: [
        LeaseRequest(workerID: "", queues: ["default"]),
        LeaseRequest(workerID: "w", queues: []),
        LeaseRequest(workerID: "w", maxTasks: 0),
        LeaseRequest(workerID: "w", maxTasks: 1001),
        LeaseRequest(workerID: "w", leaseDuration: .milliseconds(10)),
        LeaseRequest(workerID: "w", wait: .seconds(61)),
    ])
    func leaseValidation(_ request: LeaseRequest) async {
        let h = EngineHarness()
        await expectError(.invalid) { try await h.engine.lease(request) }
    }

    @Test("failures back off exponentially, then bury; metrics add up")
    func retryToDead() async throws {
        let h = EngineHarness { $0.retry = RetryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(3), jitter: { $0 }) }
        var submission = TaskSubmission.toolCall("fail")
        submission.maxRetries = 3
        let id = try await h.engine.enqueue(submission).task.id
        var delays: [Int64] = []
        for attempt in 1...4 {
            let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w")).first)
            #expect(lease.task.attempts == attempt)
            let failed = try await h.engine.fail(leaseID: lease.leaseID, failure: TaskFailureReport(message: "nope \(attempt)"))
            if attempt < 4 {
                #expect(failed.status == .retrying)
                let due = try #require(try await h.engine.backend.nextDeadline(queues: ["default"]))
                delays.append(due.milliseconds - h.clock.now().milliseconds)
                h.clock.advance(by: .milliseconds(delays.last!))
            } else {
                #expect(failed.status == .dead)
                #expect(failed.errors.map(\.message) == ["nope 1", "nope 2", "nope 3", "nope 4"])
            }
        }
        #expect(delays == [1000, 2000, 3000], "1 s doubling, capped at 3 s")
        #expect(try await h.engine.deadLetters().items.map(\.id) == [id])
        #expect(h.counter("switchboard_tasks_failed_total") == 4)
        #expect(h.counter("switchboard_tasks_retried_total") == 3)
        #expect(h.counter("switchboard_tasks_dead_total") == 1)
        #expect(h.counter("switchboard_tasks_completed_total") == 0)
    }

    @Test("a non-retryable failure buries at once")
    func nonRetryable() async throws {
        let h = EngineHarness()
        _ = try await h.engine.enqueue(echo())
        let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w")).first)
        let task = try await h.engine.fail(leaseID: lease.leaseID, failure: TaskFailureReport(message: "bad input", retryable: false))
        #expect(task.status == .dead)
    }

    @Test("the worker's retry limit caps the task's")
    func workerRetryLimit() async throws {
        let h = EngineHarness()
        _ = try await h.engine.enqueue(echo())
        let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w")).first)
        let task = try await h.engine.fail(leaseID: lease.leaseID, failure: TaskFailureReport(message: "x", maxRetries: 0))
        #expect(task.status == .dead)
    }

    @Test("an expired lease is reaped by maintenance as a failed attempt, then redelivered")
    func reaping() async throws {
        let h = EngineHarness()
        let id = try await h.engine.enqueue(echo()).task.id
        let first = try #require(try await h.engine.lease(LeaseRequest(workerID: "crashed", leaseDuration: .seconds(2))).first)
        h.clock.advance(by: .seconds(2))
        try await h.engine.performMaintenance()
        let task = try await h.engine.task(id: id)
        #expect(task.status == .retrying)
        #expect(task.error?.contains("lease expired") == true)
        #expect((try? h.metrics.expectCounter("switchboard_lease_expirations_total", [("queue", "default")]).totalValue) == 1)
        h.clock.advance(by: .seconds(1))
        let second = try #require(try await h.engine.lease(LeaseRequest(workerID: "healthy")).first)
        #expect(second.task.attempts == 2)
        await expectError(.conflict) { try await h.engine.complete(leaseID: first.leaseID, result: nil) }
        #expect(try await h.engine.complete(leaseID: second.leaseID, result: json("1")).status == .completed)
    }

    @Test("results over the limit are refused and the lease stays usable")
    func resultLimit() async throws {
        let h = EngineHarness { $0.limits.maxResultBytes = 8 }
        _ = try await h.engine.enqueue(echo())
        let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w")).first)
        await expectError(.tooLarge, mentioning: "result") { try await h.engine.complete(leaseID: lease.leaseID, result: json(#""0123456789""#)) }
        #expect(try await h.engine.complete(leaseID: lease.leaseID, result: json("[1]")).result == json("[1]"))
    }

    @Test("long failure messages are cut, not refused")
    func longMessage() async throws {
        let h = EngineHarness { $0.limits.maxErrorMessageLength = 10 }
        _ = try await h.engine.enqueue(echo())
        let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w")).first)
        let task = try await h.engine.fail(leaseID: lease.leaseID, failure: TaskFailureReport(message: "ééééééééééééé"))
        #expect(task.error == "ééé...")
    }

    @Test("retention drops completed tasks after the configured time")
    func retention() async throws {
        let h = EngineHarness { $0.finishedRetention = .seconds(60) }
        let id = try await h.engine.enqueue(echo()).task.id
        let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w")).first)
        _ = try await h.engine.complete(leaseID: lease.leaseID, result: nil)
        h.clock.advance(by: .seconds(59))
        try await h.engine.performMaintenance()
        #expect(try await h.engine.task(id: id).status == .completed)
        h.clock.advance(by: .seconds(2))
        try await h.engine.performMaintenance()
        await expectError(.notFound) { try await h.engine.task(id: id) }
    }

    @Test("a run summary counts every state")
    func runSummary() async throws {
        let h = EngineHarness()
        for _ in 0..<3 {
            var s = echo()
            s.runID = "run-1"
            _ = try await h.engine.enqueue(s)
        }
        let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w")).first)
        _ = try await h.engine.complete(leaseID: lease.leaseID, result: nil)
        let summary = try await h.engine.run("run-1")
        #expect(summary.counts == [.completed: 1, .pending: 2])
        #expect(summary.tasks.count == 3)
        await expectError(.notFound) { try await h.engine.run("run-2") }
    }

    @Test("resume wakes leasers of a paused queue")
    func resumeWakes() async throws {
        let h = EngineHarness()
        _ = try await h.engine.pause(queue: "default")
        let id = try await h.engine.enqueue(echo()).task.id
        async let leased = h.engine.lease(LeaseRequest(workerID: "w", wait: .seconds(30)))
        await h.waitForLeasers()
        _ = try await h.engine.resume(queue: "default")
        #expect(try await leased.map(\.task.id) == [id])
    }

    @Test("a leaser waiting on a lock key is woken when the key frees")
    func lockKeyWake() async throws {
        let h = EngineHarness()
        var a = echo()
        a.lockKey = "repo"
        var b = echo()
        b.lockKey = "repo"
        b.queue = "other"
        _ = try await h.engine.enqueue(a)
        let bID = try await h.engine.enqueue(b).task.id
        let first = try await h.engine.lease(LeaseRequest(workerID: "w", queues: ["default", "other"], maxTasks: 5))
        #expect(first.count == 1)
        async let next = h.engine.lease(LeaseRequest(workerID: "w2", queues: ["other"], wait: .seconds(30)))
        await h.waitForLeasers()
        _ = try await h.engine.complete(leaseID: first[0].leaseID, result: nil)
        #expect(try await next.map(\.task.id) == [bID])
    }

    @Test("wait time and duration histograms are recorded")
    func histograms() async throws {
        let h = EngineHarness()
        _ = try await h.engine.enqueue(echo())
        h.clock.advance(by: .milliseconds(250))
        let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w")).first)
        h.clock.advance(by: .milliseconds(100))
        _ = try await h.engine.complete(leaseID: lease.leaseID, result: nil)
        let labels = [("queue", "default"), ("type", "tool_call")]
        #expect(try h.metrics.expectTimer("switchboard_task_wait_seconds", labels).values == [250_000_000])
        #expect(try h.metrics.expectTimer("switchboard_task_duration_seconds", labels).values == [100_000_000])
        #expect(h.counter("switchboard_tasks_completed_total") == 1)
        try await h.engine.performMaintenance()
        #expect(try h.metrics.expectGauge("switchboard_queue_depth", [("queue", "default"), ("state", "completed")]).lastValue == 1)
    }

    @Test("a task released on every drain reaches the DLQ: past maxReleases a release is a failed attempt")
    func boundedReleases() async throws {
        let h = EngineHarness { $0.maxReleases = 2 }
        let task = try await h.engine.enqueue(TaskSubmission(type: "job", payload: .null, maxRetries: 0)).task
        for expected in 1...2 {
            let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w", queues: ["default"])).first)
            let released = try await h.engine.release(leaseID: lease.leaseID, workerID: "w")
            #expect(released.status == .pending && released.releases == expected && released.attempts == 0)
        }
        let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w", queues: ["default"])).first)
        let buried = try await h.engine.release(leaseID: lease.leaseID, workerID: "w")
        #expect(buried.status == .dead, "max_retries 0: the failed attempt buries it")
        #expect(buried.error?.contains("released more than 2 times") == true)
        #expect(try await h.engine.deadLetters().items.map(\.id) == [task.id])
        #expect(h.counter("switchboard_tasks_failed_total", type: "job") == 1)
        #expect(h.counter("switchboard_tasks_dead_total", type: "job") == 1)
    }
}

@Suite("Clock skew against a shared backend", .timeLimit(.minutes(1)))
struct ClockSkewTests {
    @Test("a server whose clock differs from the backend's by more than the bound does not reap; once they agree it does")
    func noReapingWhenSkewed() async throws {
        let backend = SkewedClockBackend()
        let h = EngineHarness(backend: backend) { $0.maxClockSkew = .seconds(2) }
        backend.offset.withLock { $0 = .seconds(-60) }  // the backend's clock a minute behind ours
        backend.clock.withLock { $0 = h.clock }
        _ = try await h.engine.enqueue(TaskSubmission(type: "job", payload: .null))
        let lease = try #require(
            try await h.engine.lease(LeaseRequest(workerID: "w", queues: ["default"], leaseDuration: .seconds(5))).first)
        h.clock.advance(by: .seconds(10))
        _ = try await h.engine.performMaintenance()
        #expect(try await h.engine.task(id: lease.task.id).status == .running, "not reaped while skewed")
        let skew = try #require(h.engine.clockSkew)
        #expect(!skew.isWithinBound && skew.skew == .seconds(60))
        backend.offset.withLock { $0 = .milliseconds(-500) }
        _ = try await h.engine.performMaintenance()
        #expect(try await h.engine.task(id: lease.task.id).status == .retrying, "reaped once the clocks agree")
        #expect(h.engine.clockSkew?.isWithinBound == true)
    }

    @Test("a server whose clock runs behind the backend's dates its leases on the backend's clock, so the others do not reap them early")
    func leasesOnTheBackendsClock() async throws {
        let backend = SkewedClockBackend()
        let h = EngineHarness(backend: backend) { $0.maxClockSkew = .seconds(2) }
        backend.offset.withLock { $0 = .milliseconds(1500) }  // this server 1.5 s behind
        backend.clock.withLock { $0 = h.clock }
        _ = try await h.engine.performMaintenance()
        #expect(h.engine.clockSkew?.skew == .milliseconds(-1500))
        _ = try await h.engine.enqueue(TaskSubmission(type: "job", payload: .null))
        let lease = try #require(
            try await h.engine.lease(LeaseRequest(workerID: "w", queues: ["default"], leaseDuration: .seconds(5))).first)
        let backendNow = try await backend.referenceTime()
        #expect(lease.expiresAt == backendNow + .seconds(5), "five seconds on the shared clock, not 3.5")
        #expect(lease.task.startedAt == backendNow)
    }

    @Test("a measurement with a slow round trip (a partition that healed) is ignored: the last anchor stands")
    func slowMeasurementIgnored() async throws {
        let backend = SkewedClockBackend()
        let h = EngineHarness(backend: backend) { $0.maxClockSkew = .seconds(2) }
        backend.clock.withLock { $0 = h.clock }
        _ = try await h.engine.performMaintenance()
        #expect(h.engine.clockSkew?.skew == .zero)
        // The request reached the backend only as the partition healed, 3 s after it was sent:
        // the midpoint would put the engine 1.5 s behind.
        backend.roundTrip.withLock { $0 = .seconds(3) }
        _ = try await h.engine.performMaintenance()
        #expect(h.engine.clockSkew?.skew == .zero, "ignored")
        backend.roundTrip.withLock { $0 = .zero }
        _ = try await h.engine.enqueue(TaskSubmission(type: "job", payload: .null))
        let lease = try #require(
            try await h.engine.lease(LeaseRequest(workerID: "w", queues: ["default"], leaseDuration: .seconds(5))).first)
        #expect(lease.expiresAt == h.clock.now() + .seconds(5))
    }

    @Test("a wall clock stepped between two measurements changes nothing: the engine's time advances by the monotonic clock")
    func steppedWallClock() async throws {
        let backend = SkewedClockBackend()
        let manual = ManualClock()
        let wall = SteppedClock(base: manual)
        backend.clock.withLock { $0 = manual }
        var configuration = EngineConfiguration()
        configuration.maxClockSkew = .seconds(2)
        let engine = TaskEngine(backend: backend, configuration: configuration, clock: wall)
        _ = try await engine.performMaintenance()
        wall.step.withLock { $0 = .seconds(-3) }  // stepped back, say by NTP, before the next measurement
        manual.advance(by: .milliseconds(200))
        _ = try await engine.enqueue(TaskSubmission(type: "job", payload: .null))
        let lease = try #require(try await engine.lease(LeaseRequest(workerID: "w", queues: ["default"], leaseDuration: .seconds(5))).first)
        #expect(lease.expiresAt == manual.now() + .seconds(5), "dated on the backend's time line, not 3 s early")
        // The next measurement sees the step (reported, and beyond the bound: no reaping here).
        _ = try await engine.performMaintenance()
        #expect(engine.clockSkew?.skew == .seconds(-3) && engine.clockSkew?.isWithinBound == false)
    }
}

/// A wall clock that an operator (or NTP) can step: the manual clock plus `step`, while the
/// elapsed time (a monotonic clock) follows the manual clock alone.
final class SteppedClock: SwitchboardClock {
    let base: ManualClock
    let step = Mutex<Duration>(.zero)

    init(base: ManualClock) {
        self.base = base
    }

    func now() -> Timestamp { base.now() + step.withLock { $0 } }
    func elapsedTime() -> Duration { base.elapsedTime() }
    func sleep(until deadline: Timestamp) async throws { try await base.sleep(until: deadline - step.withLock { $0 }) }
}

/// A backend (the essentials, in memory) with a clock of its own: the test's clock plus `offset`.
final class SkewedClockBackend: TaskBackend, ClockReference {
    private let inner = EssentialsOnlyBackend()
    let offset = Mutex<Duration>(.zero)
    let clock = Mutex<ManualClock?>(nil)
    /// How long a `TIME` takes: the clock reads the backend's time, then advances by this.
    let roundTrip = Mutex<Duration>(.zero)

    func referenceTime() async throws -> Timestamp {
        let clock = clock.withLock { $0! }
        let time = clock.now() + offset.withLock { $0 }
        clock.advance(by: roundTrip.withLock { $0 })
        return time
    }

    func enqueue(_ tasks: [NewTask], now: Timestamp) async throws -> [EnqueueOutcome] { try await inner.enqueue(tasks, now: now) }
    func lease(queues: [String], maxTasks: Int, workerID: String, terms: LeaseTerms, now: Timestamp) async throws -> [TaskLease] {
        try await inner.lease(queues: queues, maxTasks: maxTasks, workerID: workerID, terms: terms, now: now)
    }
    func heartbeat(leaseID: String, extension terms: LeaseTerms, now: Timestamp) async throws -> HeartbeatStatus {
        try await inner.heartbeat(leaseID: leaseID, extension: terms, now: now)
    }
    func complete(batch: [LeaseCompletion], now: Timestamp) async throws -> [Result<TaskRecord, any Error>] {
        try await inner.complete(batch: batch, now: now)
    }
    func fail(leaseID: String, message: String, now: Timestamp, decide: @Sendable (TaskRecord) -> FailureDecision) async throws -> TaskRecord {
        try await inner.fail(leaseID: leaseID, message: message, now: now, decide: decide)
    }
    func release(
        leaseID: String, now: Timestamp, maxReleases: Int, decide: @Sendable (TaskRecord) -> FailureDecision
    ) async throws -> TaskRecord {
        try await inner.release(leaseID: leaseID, now: now, maxReleases: maxReleases, decide: decide)
    }
    func cancel(id: String, now: Timestamp) async throws -> TaskRecord { try await inner.cancel(id: id, now: now) }
    func task(id: String) async throws -> TaskRecord? { try await inner.task(id: id) }
    func list(_ filter: TaskFilter, page: PageRequest) async throws -> Page<TaskRecord> { try await inner.list(filter, page: page) }
    func queues() async throws -> [QueueInfo] { try await inner.queues() }
    func promoteDue(now: Timestamp) async throws -> Set<String> { try await inner.promoteDue(now: now) }
    func reapExpiredLeases(now: Timestamp, limit: Int, decide: @Sendable (TaskRecord) -> FailureDecision) async throws -> [TaskRecord] {
        try await inner.reapExpiredLeases(now: now, limit: limit, decide: decide)
    }
    func nextDeadline(queues: [String]?) async throws -> Timestamp? { try await inner.nextDeadline(queues: queues) }
    func ping() async throws {}
}
