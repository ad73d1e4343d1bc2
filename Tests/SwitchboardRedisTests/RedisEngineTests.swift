import Foundation
import SwitchboardCore
import SwitchboardJSON
import SwitchboardRedis
import SwitchboardRESP
import Synchronization
import Testing

/// Engines of several "servers" (one process here, separate clients) sharing one Redis.
@Suite("Engines sharing Redis", .enabled(if: testRedisURL != nil), .timeLimit(.minutes(2)))
struct RedisEngineTests {
    let prefix = "sbtest-\(UUID().uuidString.prefix(8))"

    func engine(pollFallback: Duration = .seconds(1)) -> TaskEngine {
        var configuration = EngineConfiguration()
        configuration.readyPollFallback = pollFallback
        configuration.retry = RetryPolicy(baseDelay: .milliseconds(10), maxDelay: .milliseconds(10))
        return TaskEngine(backend: makeRedisBackend(prefix: prefix), configuration: configuration)
    }

    @Test("a leaser waiting on one server is woken by an enqueue on another, through the ready feed")
    func wakeAcrossServers() async throws {
        // A poll fallback of a minute: only the feed can wake the leaser within the test's time.
        let waiting = engine(pollFallback: .seconds(60))
        let other = engine(pollFallback: .seconds(60))
        let follower = Task { await waiting.followReadyEvents() }
        defer { follower.cancel() }
        while !waiting.isFollowingReadyEvents { try await Task.sleep(for: .milliseconds(5)) }

        let queue = "wake-\(UUID().uuidString.prefix(6))"
        let leaser = Task {
            try await waiting.lease(LeaseRequest(workerID: "w", queues: [queue], maxTasks: 1, wait: .seconds(30)))
        }
        // Let the leaser find nothing and start waiting (if it has not yet, the enqueue simply
        // lands first and the lease returns at once; the check below holds either way).
        try await Task.sleep(for: .milliseconds(200))
        let started = ContinuousClock.now
        let enqueued = try await other.enqueue(TaskSubmission(queue: queue, type: "t", payload: .emptyObject))
        let leased = try await leaser.value
        #expect(leased.map(\.task.id) == [enqueued.task.id])
        #expect(ContinuousClock.now - started < .seconds(10), "woken by the feed, not by the 60 s fallback poll")
    }

    @Test("two servers' workers share the queue and never run a task twice")
    func twoServersNoDoubleRun() async throws {
        let engines = [engine(), engine()]
        let queue = "share-\(UUID().uuidString.prefix(6))"
        let running = Shared<Set<String>>([])
        let runs = Shared<[String: Int]>([:])
        let overlaps = Shared(0)
        let byWorker = Shared<[String: Int]>([:])
        let workers = engines.enumerated().map { index, engine in
            let worker = Worker(
                configuration: Worker.Configuration(id: "server-\(index)", queues: [queue], concurrency: 4, pollInterval: .milliseconds(200)),
                source: engine, locks: MemoryLockService())
            worker.registerHandler(for: "probe") { context in
                let id = context.task.id
                let clash = running.withLock { !$0.insert(id).inserted }
                if clash { overlaps.withLock { $0 += 1 } }
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...3)))
                running.withLock { _ = $0.remove(id) }
                runs.withLock { $0[id, default: 0] += 1 }
                byWorker.withLock { $0[context.workerID, default: 0] += 1 }
                return nil
            }
            return worker
        }
        let submissions = (0..<300).map { i in
            TaskSubmission(queue: queue, type: "probe", payload: try! RawJSON(validating: "{\"i\":\(i)}"))
        }
        var ids: [String] = []
        for batch in stride(from: 0, to: submissions.count, by: 50) {
            ids += try await engines[batch / 50 % 2].enqueue(batch: Array(submissions[batch..<batch + 50])).map(\.task.id)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in workers { group.addTask { try await worker.run() } }
            for engine in engines { group.addTask { await engine.followReadyEvents() } }
            while runs.withLock({ $0.count }) < ids.count { try await Task.sleep(for: .milliseconds(20)) }
            for worker in workers { worker.stop() }
            group.cancelAll()
        }
        #expect(overlaps.withLock { $0 } == 0)
        #expect(runs.withLock { $0.values.allSatisfy { $0 == 1 } }, "each task ran exactly once")
        #expect(byWorker.withLock { $0.count } == 2, "both servers took tasks: \(byWorker.withLock { $0 })")
        for id in ids {
            let task = try await engines[0].task(id: id)
            #expect(task.status == .completed && task.attempts == 1, "\(id): \(task.status) after \(task.attempts) attempts")
        }
    }

    @Test("tasks with one lock key never overlap across servers")
    func lockKeyAcrossServers() async throws {
        let engines = [engine(), engine()]
        let queue = "gate-\(UUID().uuidString.prefix(6))"
        let key = "repo-\(UUID().uuidString.prefix(6))"
        let inside = Shared(0)
        let most = Shared(0)
        let done = Shared(0)
        let workers = engines.enumerated().map { index, engine in
            let worker = Worker(
                configuration: Worker.Configuration(id: "server-\(index)", queues: [queue], concurrency: 4, pollInterval: .milliseconds(200)),
                source: engine, locks: MemoryLockService())
            worker.registerHandler(for: "gated") { _ in
                let now = inside.withLock { value in
                    value += 1
                    return value
                }
                most.withLock { $0 = max($0, now) }
                try await Task.sleep(for: .milliseconds(2))
                inside.withLock { $0 -= 1 }
                done.withLock { $0 += 1 }
                return nil
            }
            return worker
        }
        _ = try await engines[1].enqueue(
            batch: (0..<40).map { _ in TaskSubmission(queue: queue, type: "gated", payload: .emptyObject, lockKey: key) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in workers { group.addTask { try await worker.run() } }
            for engine in engines { group.addTask { await engine.followReadyEvents() } }
            while done.withLock({ $0 }) < 40 { try await Task.sleep(for: .milliseconds(20)) }
            for worker in workers { worker.stop() }
            group.cancelAll()
        }
        #expect(most.withLock { $0 } == 1, "at most one task with the key ran at a time")
    }
}

/// A value many tasks update.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
