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

    @Test func latch() async {
        let latch = Latch()
        await cancelledBeforeStart { await latch.wait() }
    }

    @Test("a latch lets every waiter through once open, and later ones at once")
    func latchOpens() async {
        let latch = Latch()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<10 { group.addTask { await latch.wait() } }
            while latch.isOpen == false, await Task.yield() == (), false {}
            latch.open()
        }
        await latch.wait()
        #expect(latch.isOpen)
    }

    @Test func slotsFree() async {
        let slots = Slots(capacity: 1)
        slots.take(1)
        let free = await withTaskGroup(of: Int?.self) { group in
            group.addTask { await slots.waitForFree() }
            slots.give()
            return await group.next()!
        }
        #expect(free == 1)
        slots.stop()
        #expect(await slots.waitForFree() == nil, "stopped: nil")
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

    @Test("an interruption cancels the execution's task through its handle, whether it comes before or while it runs; after, it is ignored")
    func executionControl() async {
        // Interrupted before its task is attached: the task is cancelled as it is attached.
        let early = ExecutionControl()
        early.interrupt(.timedOut(.seconds(1)))
        let earlyCancelled = Shared(false)
        let earlyTask = Task { if (try? await Task.sleep(for: .seconds(60))) == nil { earlyCancelled.withLock { $0 = true } } }
        early.attach(earlyTask)
        await earlyTask.value
        #expect(earlyCancelled.value && early.end() == .timedOut(.seconds(1)))

        let control = ExecutionControl()
        let started = Gate()
        let cancelled = Shared(false)
        let task = Task {
            started.open()
            if (try? await Task.sleep(for: .seconds(60))) == nil { cancelled.withLock { $0 = true } }
        }
        control.attach(task)
        await started.wait()
        control.interrupt(.cancelRequested)
        control.interrupt(.draining)
        await task.value
        #expect(cancelled.value, "the handler's sleep was cancelled")
        #expect(control.end() == .cancelRequested, "the first reason stays")

        let finished = ExecutionControl()
        #expect(finished.end() == nil)
        finished.interrupt(.timedOut(.seconds(1)))
        #expect(finished.reason == nil, "an interruption after the handler ended changes nothing")
    }

    @Test("an execution due before the supervisor's wake-up wakes it; a later one does not")
    func earlierDeadlineWakes() async throws {
        let running = RunningExecutions()
        let t0 = Timestamp(milliseconds: 1_000_000)
        func execution(_ id: String, deadline: Timestamp, fenceAt: Timestamp? = nil) -> RunningExecutions.Execution {
            .init(
                leaseID: id, control: ExecutionControl(), deadline: deadline, timeout: .seconds(1), heartbeatEvery: .seconds(1),
                lastHeartbeat: t0, fenceAfter: .seconds(60), fenceAt: fenceAt ?? t0 + .seconds(3600))
        }
        #expect(running.overdue(at: t0, wakeBy: t0 + .seconds(1)).wakeAt == t0 + .seconds(1))
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
        let (timedOut, fenced, wakeAt) = running.overdue(at: t0 + .milliseconds(200), wakeBy: t0 + .seconds(1))
        #expect(timedOut.map(\.leaseID) == ["soon"] && fenced.isEmpty)
        #expect(wakeAt == t0 + .seconds(1))
        // A fence due before the timeout wakes the supervisor too, and is reported as a fence;
        // a confirmed heartbeat moves it.
        let id = running.add(execution("fence", deadline: t0 + .seconds(30), fenceAt: t0 + .milliseconds(500)))
        // Its fence is within a heartbeat period: the supervisor wakes to beat it at once, off the
        // worker's beat; with that heartbeat on its way, it wakes at the fence.
        #expect(running.overdue(at: t0 + .milliseconds(300), wakeBy: t0 + .seconds(1)).wakeAt == t0 + .milliseconds(500) - .seconds(1))
        #expect(running.dueForHeartbeat(at: t0 + .milliseconds(300), onBeat: false).map(\.leaseID) == ["fence"])
        #expect(running.dueForHeartbeat(at: t0 + .milliseconds(300), onBeat: false).isEmpty, "one heartbeat in flight at a time")
        #expect(running.overdue(at: t0 + .milliseconds(300), wakeBy: t0 + .seconds(1)).wakeAt == t0 + .milliseconds(500))
        running.heartbeatConfirmed(id, sentAt: t0 + .milliseconds(400))
        #expect(running.overdue(at: t0 + .milliseconds(500), wakeBy: t0 + .seconds(1)).fenced.isEmpty, "moved to 400 ms + 60 s")
        let late = running.overdue(at: t0 + .seconds(61), wakeBy: t0 + .seconds(62))
        #expect(late.fenced.map(\.leaseID) == ["fence"] && late.timedOut.map(\.leaseID) == ["late"])
    }

    @Test("outcomes queued while the reporter is busy come out together; close ends it after the rest")
    func outcomeQueue() async {
        let queue = OutcomeQueue<Int>(capacity: 10)
        await queue.add(1)
        await queue.add(2)
        #expect(await queue.next() == [1, 2])
        async let waiting = queue.next()
        try? await Task.sleep(for: .milliseconds(20))
        await queue.add(3)
        #expect(await waiting == [3])
        await queue.add(4)
        queue.close()
        #expect(await queue.next() == [4])
        #expect(await queue.next() == nil)
    }

    @Test("an outcome queue holds carriable items for the lease loop while carrying, and hands them over after")
    func outcomeQueueCarrying() async {
        let queue = OutcomeQueue<Int>(capacity: 10)
        queue.setCarrying(true)
        await queue.add(1, carriable: true)
        await queue.add(2)
        #expect(await queue.next() == [2], "what cannot be carried goes to the reporting loop at once")
        await queue.add(3, carriable: true)
        #expect(queue.takeHeld(limit: 1) == [1])
        async let waiting = queue.next()
        try? await Task.sleep(for: .milliseconds(20))
        queue.setCarrying(false)
        #expect(await waiting == [3], "turning carrying off wakes the reporting loop with what was held")
        await queue.add(4, carriable: true)
        #expect(queue.takeHeld(limit: 10).isEmpty, "not carrying: nothing is held")
        #expect(await queue.next() == [4])
        queue.setCarrying(true)
        await queue.add(5, carriable: true)
        queue.close()
        #expect(await queue.next() == [5], "closing hands over what was held")
        #expect(await queue.next() == nil)
    }

    @Test("an outcome queue is bounded: a full queue makes adders wait until the reporter takes, and hands held items over")
    func outcomeQueueBounded() async throws {
        let queue = OutcomeQueue<Int>(capacity: 2)
        queue.setCarrying(true)
        await queue.add(1, carriable: true)
        await queue.add(2)
        let added = Shared(false)
        let adder = Task {
            await queue.add(3)
            added.withLock { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(!added.value, "the third waits for room")
        #expect(queue.takeHeld(limit: 10).isEmpty, "a full queue handed its held item to the reporter")
        #expect(await queue.next() == [2, 1])
        await adder.value
        #expect(await queue.next() == [3])
    }

    @Test("a waitable state resumes each waiter once, with the value picked for its tag")
    func waitableState() async {
        let state = WaitableState<Int, String, Int>(0)
        await withTaskGroup(of: (String, Int).self) { group in
            for tag in ["a", "b", "c"] {
                group.addTask { (tag, await state.wait(for: tag, cancelled: -1) { _ in nil }) }
            }
            while state.waiterCount < 3 { await Task.yield() }
            state.update { value, waiters in
                value = 7
                waiters.resume { $0 == "b" ? nil : 1 }
            }
            #expect(state.waiterCount == 1, "b still waits")
            group.cancelAll()
            var answers: [String: Int] = [:]
            for await (tag, value) in group { answers[tag] = value }
            #expect(answers == ["a": 1, "b": -1, "c": 1], "b got the cancelled value")
        }
        #expect(await state.wait(for: "d", cancelled: nil) { $0 == 7 ? 42 : nil } == 42, "ready at once")
    }

    @Test("group commit: calls that arrive during a flush go out together in the next, each with its own answer")
    func groupCommit() async throws {
        let commit = GroupCommit<Int, Int>(maxBatch: 100)
        let batches = Shared<[[Int]]>([])
        let gate = Gate()
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                try await commit.submit(0) { items in
                    batches.withLock { $0.append(items) }
                    await gate.wait()
                    return items.map { .success($0 * 10) }
                }
            }
            while batches.value.isEmpty { await Task.yield() }
            for i in 1...5 {
                group.addTask {
                    try await commit.submit(i) { items in
                        batches.withLock { $0.append(items) }
                        return items.map { $0 == 3 ? .failure(SwitchboardError.conflict("three")) : .success($0 * 10) }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(50))
            gate.open()
            var results: [Int] = []
            while let next = await group.nextResult() {
                if case .success(let value) = next { results.append(value) }
            }
            return results.sorted()
        }
        #expect(results == [0, 10, 20, 40, 50], "each its own answer; item 3 failed alone")
        #expect(batches.value.count == 2, "one flush for the first, one for the five that waited")
        #expect(batches.value.last?.sorted() == [1, 2, 3, 4, 5])
    }

    @Test("the waiting path gives back a grant made in the instant the caller left, and one made for a caller already gone")
    func waitingGrantGivesBack() async throws {
        let givenBack = Shared<[Int]>([])
        let giveBack: @Sendable (Int) async -> Void = { grant in givenBack.withLock { $0.append(grant) } }

        // The caller leaves while the grant is being made; the grant (which, like a backend
        // call, finishes although cancelled) still grants: it goes back.
        let leaving = Latch()
        let granting = Gate()
        async let cut = waitForGrant(unless: leaving, { await granting.wait(); return 1 }, giveBack: giveBack)
        try await Task.sleep(for: .milliseconds(20))
        leaving.open()
        try await Task.sleep(for: .milliseconds(20))
        granting.open()
        #expect(try await cut == nil)
        #expect(givenBack.value == [1])

        // A grant that comes when the caller is already gone goes back too.
        struct AlreadyGone: CallerPresence {
            let never = Latch()
            func left() async { await never.wait() }
            var hasLeft: Bool { true }
        }
        #expect(try await waitForGrant(unless: AlreadyGone(), { 2 }, giveBack: giveBack) == nil)
        #expect(givenBack.value == [1, 2])

        // A caller still there gets it, and an error reaches it as thrown.
        #expect(try await waitForGrant(unless: Latch(), { 3 }, giveBack: giveBack) == 3)
        await #expect(throws: SwitchboardError.self) {
            try await waitForGrant(unless: Latch(), { () async throws -> Int in throw SwitchboardError.unavailable("x") }, giveBack: giveBack)
        }
        #expect(givenBack.value == [1, 2])
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
