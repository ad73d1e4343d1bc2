@testable import SwitchboardCore
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

    @Test func executionControl() async {
        let control = ExecutionControl()
        await cancelledBeforeStart { _ = await control.wait() }
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
