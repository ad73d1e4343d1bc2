@testable import SwitchboardCore
import SwitchboardTesting
import Testing

/// Each waiting primitive must return when its task is cancelled, including when the
/// cancellation comes before the wait registers (a task added to a cancelled group runs its
/// cancellation handler at once). A missed one hung the worker's lease loop once: a lease that
/// returned before its sibling stop-watcher started left the watcher waiting forever.
@Suite("Waiting primitives honour early cancellation", .timeLimit(.minutes(1)))
struct WaitPrimitiveTests {
    func cancelledBeforeStart(_ wait: @escaping @Sendable () async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.cancelAll()
            for _ in 0..<100 { group.addTask { await wait() } }
        }
    }

    @Test func stopSignal() async {
        let signal = StopSignal()
        await cancelledBeforeStart { await signal.wait() }
    }

    @Test func slotsIdle() async {
        let slots = Slots(capacity: 2)
        slots.take(1)
        await cancelledBeforeStart { await slots.waitUntilIdle() }
    }

    @Test func readySignal() async {
        let signal = ReadySignal()
        let generation = signal.generation
        await cancelledBeforeStart { await signal.wait(queues: ["q"], after: generation) }
    }

    @Test func earlierDeadline() async {
        let running = RunningExecutions()
        await cancelledBeforeStart { await running.waitForEarlierDeadline() }
    }

    @Test("an interruption cancels the handler, whether it comes before or while it runs; after, it is ignored")
    func executionControl() async {
        // Each run in a task of its own: an interruption cancels the task that runs the handler.
        let early = ExecutionControl()
        early.interrupt(.timedOut(.seconds(1)))
        let (sawCancel, earlyReason) = await Task { await early.run { Task.isCancelled } }.value
        #expect(sawCancel && earlyReason == .timedOut(.seconds(1)))

        let control = ExecutionControl()
        let started = Gate()
        async let slept: (result: Bool, interruption: Interruption?) = control.run {
            started.open()
            return (try? await Task.sleep(for: .seconds(60))) == nil
        }
        await started.wait()
        control.interrupt(.cancelRequested)
        control.interrupt(.draining)
        let (cancelled, reason) = await slept
        #expect(cancelled, "the handler's sleep was cancelled")
        #expect(reason == .cancelRequested, "the first reason stays")

        let finished = ExecutionControl()
        let (_, none) = await Task { await finished.run { 1 } }.value
        finished.interrupt(.timedOut(.seconds(1)))
        #expect(none == nil && finished.reason == nil, "an interruption after the handler ended changes nothing")
    }

    @Test("an execution due before the supervisor's wake-up wakes it; a later one does not")
    func earlierDeadlineWakes() async throws {
        let running = RunningExecutions()
        let t0 = Timestamp(milliseconds: 1_000_000)
        func execution(_ id: String, deadline: Timestamp) -> RunningExecutions.Execution {
            .init(
                leaseID: id, control: ExecutionControl(), deadline: deadline, timeout: .seconds(1), heartbeatEvery: .seconds(1),
                lastHeartbeat: t0)
        }
        #expect(running.overdue(at: t0, nextBeat: t0 + .seconds(1)).wakeAt == t0 + .seconds(1))
        _ = running.add(execution("late", deadline: t0 + .seconds(30)))
        let woken = Shared(false)
        let waiter = Task {
            await running.waitForEarlierDeadline()
            woken.withLock { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(!woken.value, "a later deadline leaves the supervisor asleep")
        _ = running.add(execution("soon", deadline: t0 + .milliseconds(200)))
        await waiter.value
        let (overdue, wakeAt) = running.overdue(at: t0 + .milliseconds(200), nextBeat: t0 + .seconds(1))
        #expect(overdue.map(\.leaseID) == ["soon"])
        #expect(wakeAt == t0 + .seconds(1))
    }

    @Test("outcomes queued while the reporter is busy come out together; close ends it after the rest")
    func outcomeQueue() async {
        let queue = OutcomeQueue<Int>()
        queue.add(1)
        queue.add(2)
        #expect(await queue.next() == [1, 2])
        async let waiting = queue.next()
        try? await Task.sleep(for: .milliseconds(20))
        queue.add(3)
        #expect(await waiting == [3])
        queue.add(4)
        queue.close()
        #expect(await queue.next() == [4])
        #expect(await queue.next() == nil)
    }

    @Test("an outcome queue holds carriable items for the lease loop while carrying, and hands them over after")
    func outcomeQueueCarrying() async {
        let queue = OutcomeQueue<Int>()
        queue.setCarrying(true)
        queue.add(1, carriable: true)
        queue.add(2)
        #expect(await queue.next() == [2], "what cannot be carried goes to the reporting loop at once")
        queue.add(3, carriable: true)
        #expect(queue.takeHeld(limit: 1) == [1])
        async let waiting = queue.next()
        try? await Task.sleep(for: .milliseconds(20))
        queue.setCarrying(false)
        #expect(await waiting == [3], "turning carrying off wakes the reporting loop with what was held")
        queue.add(4, carriable: true)
        #expect(queue.takeHeld(limit: 10).isEmpty, "not carrying: nothing is held")
        #expect(await queue.next() == [4])
        queue.setCarrying(true)
        queue.add(5, carriable: true)
        queue.close()
        #expect(await queue.next() == [5], "closing hands over what was held")
        #expect(await queue.next() == nil)
    }

    @Test func manualClock() async {
        let clock = ManualClock()
        await cancelledBeforeStart { try? await clock.sleep(for: .seconds(60)) }
    }

    @Test func lockWaiter() async throws {
        let clock = ManualClock()
        let locks = MemoryLockService(clock: clock)
        _ = try await locks.acquire(key: "k", holder: "a", ttl: .seconds(60), wait: .zero)
        await cancelledBeforeStart { _ = try? await locks.acquire(key: "k", holder: "b", ttl: .seconds(1), wait: .seconds(30)) }
    }

    @Test("a worker keeps leasing when leases return at once, many times over")
    func workerUnderLoad() async throws {
        let h = EngineHarness()
        let worker = Worker(
            configuration: Worker.Configuration(id: "w", concurrency: 2, pollInterval: .seconds(1)),
            source: h.engine, locks: MemoryLockService(clock: h.clock), tools: .builtins(clock: h.clock), clock: h.clock)
        _ = try await h.engine.enqueue(batch: (0..<1000).map { _ in echo() })
        let run = Task { try await worker.run() }
        try await eventually("all completed") { worker.metrics.tasksCompleted == 1000 }
        worker.stop()
        try await run.value
    }
}
