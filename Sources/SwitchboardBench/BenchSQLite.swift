import Foundation
import Histogram
import SwitchboardCore
import SwitchboardJSON
import SwitchboardSQLite

/// `--backend sqlite`: the engine, depth and latency scenarios on the durable embedded backend,
/// each beside the memory backend measured the same way in the same run.
enum BenchSQLite {
    /// A fresh database in a scratch directory (removed by `close`).
    struct Scratch {
        let directory: String
        let backend: SQLiteTaskBackend

        init(synchronous: SQLiteConfiguration.Synchronous) throws {
            directory = NSTemporaryDirectory() + "switchboard-bench-\(UUID().uuidString)"
            backend = try SQLiteTaskBackend(
                configuration: SQLiteConfiguration(path: directory + "/bench.sqlite", synchronous: synchronous))
        }

        func close() async {
            await backend.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func engine(quick: Bool, synchronous: SQLiteConfiguration.Synchronous, payloadBytes: Int) async throws {
        let tasks = quick ? 20_000 : 300_000
        let payload = payloadBytes == 0 ? RawJSON.emptyObject : try RawJSON(validating: "\"" + String(repeating: "x", count: max(payloadBytes - 2, 0)) + "\"")
        var memoryStart = ContinuousClock.now
        try await BenchScenarios.drainThroughEngine(tasks: tasks, configuration: EngineConfiguration(), payload: payload)
        var memoryRate = Double(tasks) / BenchScenarios.seconds(since: memoryStart)
        let scratch = try Scratch(synchronous: synchronous)
        let start = ContinuousClock.now
        try await BenchScenarios.drainThroughEngine(
            tasks: tasks, configuration: EngineConfiguration(), engine: TaskEngine(backend: scratch.backend), payload: payload)
        let sqliteSeconds = BenchScenarios.seconds(since: start)
        let size = scratch.backend.storageBytes()
        await scratch.close()
        // Memory again, after: the better of the two brackets the SQLite run.
        memoryStart = ContinuousClock.now
        try await BenchScenarios.drainThroughEngine(tasks: tasks, configuration: EngineConfiguration(), payload: payload)
        memoryRate = max(memoryRate, Double(tasks) / BenchScenarios.seconds(since: memoryStart))
        BenchResult(
            scenario: "engine", backend: "sqlite", tasks: tasks, seconds: sqliteSeconds,
            baselineName: "the same through the memory backend", baselinePerSec: memoryRate,
            extra: [("synchronous", "\"\(synchronous.rawValue)\""), ("file_bytes", "\(size)"), ("payload_bytes", "\(payloadBytes)")]
        ).print()
    }

    static func depth(quick: Bool, synchronous: SQLiteConfiguration.Synchronous) async throws {
        let deep = quick ? 100_000 : 1_000_000
        let measured = quick ? 20_000 : 200_000
        /// The rate, and how long the file then takes to open again (every task read back).
        func rate(queued: Int) async throws -> (perSecond: Double, reopenSeconds: Double) {
            let scratch = try Scratch(synchronous: synchronous)
            let result = try await BenchScenarios.depthRate(engine: TaskEngine(backend: scratch.backend), queued: queued, measured: measured)
            await scratch.backend.close()
            let reopening = ContinuousClock.now
            let reopened = try SQLiteTaskBackend(configuration: scratch.backend.configuration)
            let reopenSeconds = BenchScenarios.seconds(since: reopening)
            await reopened.close()
            await scratch.close()
            return (result.perSecond, reopenSeconds)
        }
        let shallow = try await rate(queued: 1_000)
        let start = ContinuousClock.now
        let full = try await rate(queued: deep)
        BenchResult(
            scenario: "depth", backend: "sqlite", tasks: measured, seconds: Double(measured) / full.perSecond,
            baselineName: "the same with 1,000 queued", baselinePerSec: shallow.perSecond,
            extra: [("queued", "\(deep)"), ("synchronous", "\"\(synchronous.rawValue)\""),
                    ("reopen_seconds", "\((full.reopenSeconds * 1000).rounded() / 1000)"),
                    ("wall_seconds", "\((BenchScenarios.seconds(since: start) * 1000).rounded() / 1000)")]
        ).print()
    }

    /// Enqueue → handler start as in `latency`, then the acknowledged enqueue alone (the 201's
    /// wait: the commit): one at a time, and from 32 callers at once (group commit).
    static func latency(quick: Bool, synchronous: SQLiteConfiguration.Synchronous) async throws {
        let samples = quick ? 500 : 5_000
        try await BenchScenarios.latency(quick: quick, redis: nil)
        let hopRate = await BenchScenarios.wakeUpRate(samples: samples)
        let memoryEngine = TaskEngine.memory()
        let memoryAck = try await enqueueLatency(engine: memoryEngine, samples: samples, callers: 1)
        let scratch = try Scratch(synchronous: synchronous)
        let engine = TaskEngine(backend: scratch.backend)
        try await BenchScenarios.latency(samples: samples, enqueueOn: engine, runOn: engine, backend: "sqlite", hopRate: hopRate)
        for callers in [1, 32] {
            let sqliteAck = try await enqueueLatency(engine: engine, samples: samples * callers / 4 + samples, callers: callers)
            let memory = callers == 1 ? memoryAck : try await enqueueLatency(engine: memoryEngine, samples: samples * callers / 4 + samples, callers: callers)
            BenchResult(
                scenario: "enqueue-ack", backend: "sqlite", tasks: sqliteAck.count, seconds: sqliteAck.seconds,
                p50: sqliteAck.p50, p99: sqliteAck.p99,
                baselineName: "the same on the memory backend", baselinePerSec: Double(memory.count) / memory.seconds,
                extra: [("callers", "\(callers)"), ("synchronous", "\"\(synchronous.rawValue)\""),
                        ("memory_p50_ms", "\(memory.p50)"), ("memory_p99_ms", "\(memory.p99)")]
            ).print()
        }
        await scratch.close()
    }

    /// Single-task enqueues from `callers` at once: each call's time to its acknowledgement.
    private static func enqueueLatency(engine: TaskEngine, samples: Int, callers: Int) async throws
        -> (count: Int, seconds: Double, p50: Double, p99: Double)
    {
        let start = ContinuousClock.now
        let perCaller = max(samples / callers, 1)
        let all = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for _ in 0..<callers {
                group.addTask {
                    var times: [UInt64] = []
                    times.reserveCapacity(perCaller)
                    for _ in 0..<perCaller {
                        let sent = ContinuousClock.now
                        _ = try await engine.enqueue(TaskSubmission(queue: "ack", type: "probe", payload: .emptyObject))
                        times.append(UInt64(BenchScenarios.seconds(since: sent) * 1e9))
                    }
                    return times
                }
            }
            var all: [UInt64] = []
            for try await times in group { all += times }
            return all
        }
        let seconds = BenchScenarios.seconds(since: start)
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        for value in all { histogram.record(value) }
        return (all.count, seconds, Double(histogram.valueAtPercentile(50)) / 1e6, Double(histogram.valueAtPercentile(99)) / 1e6)
    }
}
