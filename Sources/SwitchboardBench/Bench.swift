import ArgumentParser
import Foundation
import Histogram
import Logging
import SwitchboardCore
import SwitchboardMCP
import SwitchboardJSON
import SwitchboardNATSClient
import SwitchboardRedis
import SwitchboardRESP
import SwitchboardSQLite
import SwitchboardServer
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `switchboard-bench`: the benchmark harness, an executable of its own so that the shipped
/// `switchboard` carries no benchmark code.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard-bench", abstract: "Switchboard's benchmarks (build with -c release for real figures).",
        subcommands: [Bench.self, BaselineEcho.self], defaultSubcommand: Bench.self)
}

/// `switchboard-bench <scenario>`: one JSON object per line, each figure next to a baseline
/// measured in the same run (these machines are noisy; ratios travel, absolute rates do not).
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Measure Switchboard; one JSON line per scenario (the default subcommand).",
        discussion: "Scenarios: engine, engine-events, mcp (with Python's mcp package), latency, depth, http-enqueue, http-batch, http-secure, remote, codec, locks, redis (with --redis), nats (with --nats; with --redis too, redis runs right after it).")

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case engine, latency, depth, locks, redis, nats, all
        case engineEvents = "engine-events"
        case mcp
        case httpEnqueue = "http-enqueue"
        case httpBatch = "http-batch"
        case httpSecure = "http-secure"
        case remote, codec
    }

    @Argument(help: "engine, engine-events, mcp, latency, depth, http-enqueue, http-batch, http-secure, remote, codec, locks, redis, nats or all.") var scenario: Scenario
    @Flag(help: "A few seconds per scenario (what CI runs to keep the harness working).") var quick = false
    @Option(help: "A scratch Redis for the redis and locks scenarios (keys are left behind).") var redis: String?
    @Option(help: "A scratch NATS (JetStream) for the nats scenario (streams are deleted after).") var nats: String?
    @Option(help: "Slots of each worker in the remote scenario (remote and in-process alike).") var slots = 32
    @Option(help: "memory, or sqlite: engine, depth and latency on the SQLite backend (a scratch file), each beside memory in the same run.")
    var backend = "memory"
    @Option(help: "With --backend sqlite: full or normal.") var sqliteSynchronous = "full"
    @Option(help: "With --backend sqlite: the engine scenario's payload size in bytes (a JSON string; 0: {}).")
    var payloadBytes = 0
    @Option(help: "The MCP server the mcp scenario calls (its tool add): a command, started over stdio.")
    var mcpServer = "python3 IntegrationTests/mcp/tools_server.py"
    @Option(help: "The switchboard binary whose workers the remote scenario runs (default: the one beside this one).")
    var switchboard: String?

    /// `switchboard`, next to this executable unless told otherwise.
    var switchboardBinary: URL {
        switchboard.map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("switchboard")
    }

    func validate() throws {
        guard ["memory", "sqlite"].contains(backend) else { throw ValidationError("backend must be memory or sqlite") }
        guard (0...1_000_000).contains(payloadBytes) else { throw ValidationError("payload-bytes must be 0-1000000") }
        guard SQLiteConfiguration.Synchronous(rawValue: sqliteSynchronous.uppercased()) != nil else {
            throw ValidationError("sqlite-synchronous must be full or normal")
        }
    }

    func run() async throws {
        let synchronous = SQLiteConfiguration.Synchronous(rawValue: sqliteSynchronous.uppercased()) ?? .full
        let onSQLite = backend == "sqlite"
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .error
            return handler
        }
        let scenarios: [Scenario] =
            scenario == .all
            ? [.engine, .engineEvents, .latency, .depth, .httpEnqueue, .httpBatch, .httpSecure, .remote, .codec, .locks] + (redis == nil ? [] : [.redis]) + (nats == nil ? [] : [.nats]) : [scenario]
        for scenario in scenarios {
            switch scenario {
            case .engine where onSQLite: try await BenchSQLite.engine(quick: quick, synchronous: synchronous, payloadBytes: payloadBytes)
            case .latency where onSQLite: try await BenchSQLite.latency(quick: quick, synchronous: synchronous)
            case .depth where onSQLite:
                try await BenchScenarios.depth(quick: quick)
                try await BenchSQLite.depth(quick: quick, synchronous: synchronous)
            case .engine: try await BenchScenarios.engine(quick: quick)
            case .engineEvents: try await BenchScenarios.engineEvents(quick: quick)
            case .latency: try await BenchScenarios.latency(quick: quick, redis: try redis.map { try RedisURL($0) })
            case .depth: try await BenchScenarios.depth(quick: quick)
            case .httpEnqueue: try await BenchHTTP.run(batch: nil, quick: quick)
            case .httpBatch: try await BenchHTTP.run(batch: 100, quick: quick)
            case .httpSecure: try await BenchSecure.run(quick: quick)
            case .remote: try await BenchRemote.run(quick: quick, slots: slots, switchboard: switchboardBinary)
            case .codec: BenchCodec.run(quick: quick)
            case .mcp: try await BenchMCP.run(quick: quick, toolsServer: try MCPServerSpec(parsing: "x=\(mcpServer)").command)
            case .locks: try await BenchScenarios.locks(quick: quick, redis: try redis.map { try RedisURL($0) })
            case .redis:
                guard let redis else { throw ValidationError("the redis scenario needs --redis redis://…") }
                try await BenchScenarios.redis(quick: quick, url: try RedisURL(redis))
            case .nats:
                guard let nats else { throw ValidationError("the nats scenario needs --nats nats://…") }
                try await BenchNATS.run(quick: quick, url: try NATSURL(nats))
                // Side by side in one run: the goal is at least Redis's rate.
                if scenario == .nats, let redis { try await BenchScenarios.redis(quick: quick, url: try RedisURL(redis)) }
            case .all: break
            }
        }
    }
}

/// One line of output (the fields of issue 6).
struct BenchResult {
    var scenario: String
    var backend: String
    var tasks: Int
    var seconds: Double
    var p50: Double? = nil
    var p99: Double? = nil
    var rssBytes: Int = residentBytes()
    var baselineName: String
    var baselinePerSec: Double
    var extra: [(String, String)] = []

    var perSecond: Double { Double(tasks) / max(seconds, 1e-9) }

    func print() {
        var w = JSONWriter()
        w.beginObject()
        w.key("scenario"); w.string(scenario)
        w.key("backend"); w.string(backend)
        w.key("tasks"); w.int(tasks)
        w.key("seconds"); w.double((seconds * 1000).rounded() / 1000)
        w.key("tasks_per_sec"); w.int(Int(perSecond))
        w.key("p50_ms"); if let p50 { w.double((p50 * 1000).rounded() / 1000) } else { w.null() }
        w.key("p99_ms"); if let p99 { w.double((p99 * 1000).rounded() / 1000) } else { w.null() }
        w.key("rss_bytes"); w.int(rssBytes)
        w.key("baseline")
        w.beginObject()
        w.key("name"); w.string(baselineName)
        w.key("per_sec"); w.int(Int(baselinePerSec))
        w.endObject()
        w.key("ratio"); w.double((perSecond / max(baselinePerSec, 1e-9) * 1000).rounded() / 1000)
        for (key, value) in extra {
            w.key(computed: key)
            w.raw(RawJSON(unchecked: Array(value.utf8)))
        }
        w.endObject()
        Swift.print(String(decoding: w.bytes, as: UTF8.self))
    }
}

enum BenchScenarios {
    /// The loops the benchmarks' servers run on, made as `serve` makes them, once per process.
    static let serverLoops = ControlPlane.makeEventLoopGroup()

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// The backend's three transitions in a tight loop, batches of 100: what the engine and a
    /// Worker add on top of storage is the ratio.
    static func backendRate(tasks: Int) async throws -> Double {
        let backend = MemoryTaskBackend()
        let now = Timestamp.now()
        let terms = LeaseTerms(grace: .seconds(5))
        let start = ContinuousClock.now
        var done = 0
        var sequence = 0
        while done < tasks {
            let batch = (0..<100).map { _ -> NewTask in
                sequence += 1
                return NewTask(
                    record: TaskRecord(
                        id: "b-\(sequence)", queue: "default", type: "noop", payload: .emptyObject, status: .pending, maxRetries: 0,
                        timeoutMS: 30_000, createdAt: now, updatedAt: now))
            }
            _ = backend.enqueue(batch, now: now)
            for lease in backend.lease(queues: ["default"], maxTasks: 100, workerID: "b", terms: terms, now: now) {
                _ = try backend.complete(batch: [LeaseCompletion(leaseID: lease.leaseID, result: nil)], now: now)[0].get()
            }
            done += 100
        }
        return Double(done) / seconds(since: start)
    }

    /// No-op tasks through the engine and a `Worker` with 64 slots, fed by 4 producers.
    static func engine(quick: Bool) async throws {
        let tasks = quick ? 20_000 : 500_000
        let baseline = try await backendRate(tasks: tasks)
        let start = ContinuousClock.now
        try await drainThroughEngine(tasks: tasks, configuration: EngineConfiguration())
        BenchResult(
            scenario: "engine", backend: "memory", tasks: tasks, seconds: seconds(since: start),
            baselineName: "memory backend transitions alone", baselinePerSec: baseline
        ).print()
    }

    /// The engine scenario with the event journal (`GET /v1/events`) on — with a reader, and
    /// without one (it then records nothing) — against the same with it off: what recording
    /// every transition costs. Alternated, best of three each.
    static func engineEvents(quick: Bool) async throws {
        let tasks = quick ? 20_000 : 300_000
        var off = EngineConfiguration()
        off.eventBufferSize = 0
        var best: [String: Double] = [:]
        for _ in 0..<(quick ? 1 : 3) {
            for (name, configuration, watched) in [("off", off, false), ("unwatched", EngineConfiguration(), false), ("watched", EngineConfiguration(), true)] {
                let start = ContinuousClock.now
                try await drainThroughEngine(tasks: tasks, configuration: configuration, watched: watched)
                best[name] = max(best[name] ?? 0, Double(tasks) / seconds(since: start))
            }
        }
        for name in ["watched", "unwatched"] {
            BenchResult(
                scenario: "engine-events-\(name)", backend: "memory", tasks: tasks, seconds: Double(tasks) / best[name]!,
                baselineName: "the same with the event journal off", baselinePerSec: best["off"]!
            ).print()
        }
    }

    static func drainThroughEngine(
        tasks: Int, configuration: EngineConfiguration, watched: Bool = false, engine given: TaskEngine? = nil,
        payload: RawJSON = .emptyObject
    ) async throws {
        let engine = given ?? TaskEngine.memory(configuration: configuration)
        // A page following /v1/events: the journal records while a reader is there.
        if watched { engine.events.readerArrived(at: engine.clock.now()) }
        let worker = Worker(
            configuration: Worker.Configuration(id: "bench", queues: ["default"], concurrency: 64), source: engine,
            locks: MemoryLockService())
        let done = Counter()
        worker.registerHandler(for: "noop") { _ in
            done.add(1)
            return nil
        }
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<(tasks / 400) {
                        _ = try await engine.enqueue(batch: Array(repeating: TaskSubmission(type: "noop", payload: payload), count: 100))
                    }
                }
            }
            while done.value < tasks {
                guard ContinuousClock.now - start < .seconds(300) else { throw BenchError("the worker did not drain \(tasks) tasks in 5 minutes") }
                try await Task.sleep(for: .milliseconds(2))
            }
            worker.stop()
            try await group.waitForAll()
        }
    }

    /// Enqueue → handler start: memory, and with `--redis` across two engines on one Redis.
    static func latency(quick: Bool, redis: RedisURL?) async throws {
        let samples = quick ? 500 : 5_000
        let hopRate = await wakeUpRate(samples: samples)
        let memory = TaskEngine.memory()
        try await latency(samples: samples, enqueueOn: memory, runOn: memory, backend: "memory", hopRate: hopRate)
        guard let redis else { return }
        // As between two servers on one Redis: the enqueue on one engine, the worker on another,
        // woken through the ready feed (pub/sub).
        let client = RedisClient(RedisClient.Configuration(url: redis))
        let prefix = "bench-\(UInt32.random(in: 0...UInt32.max))"
        let producer = TaskEngine(backend: RedisTaskBackend(client: client, prefix: prefix))
        let consumer = TaskEngine(backend: RedisTaskBackend(client: client, prefix: prefix))
        let feed = Task { await consumer.followReadyEvents() }
        defer { feed.cancel() }
        while !consumer.isFollowingReadyEvents { try await Task.sleep(for: .milliseconds(5)) }
        try await latency(samples: samples, enqueueOn: producer, runOn: consumer, backend: "redis", hopRate: hopRate)
        feed.cancel()
        await feed.value
        await client.close()
    }

    /// The latency baseline: one task waking another (a continuation resumed across tasks), per second.
    static func wakeUpRate(samples: Int) async -> Double {
        let hop = Started()
        let start = ContinuousClock.now
        for _ in 0..<samples {
            async let woken: Void = hop.wait()
            hop.signal()
            await woken
        }
        return Double(samples) / seconds(since: start)
    }

    /// Enqueue → handler start, one task at a time (light load), through an idle worker.
    static func latency(samples: Int, enqueueOn producer: TaskEngine, runOn consumer: TaskEngine, backend: String, hopRate: Double) async throws {
        let worker = Worker(
            configuration: Worker.Configuration(id: "bench", queues: ["default"], concurrency: 4), source: consumer,
            locks: MemoryLockService())
        let started = Started()
        worker.registerHandler(for: "probe") { _ in
            started.signal()
            return nil
        }
        // Nanoseconds, three significant digits, up to a minute.
        var latencies = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            for _ in 0..<samples {
                let sent = ContinuousClock.now
                async let begun: Void = started.wait()
                _ = try await producer.enqueue(TaskSubmission(type: "probe", payload: .emptyObject))
                await begun
                latencies.record(UInt64(seconds(since: sent) * 1e9))
            }
            worker.stop()
            try await group.waitForAll()
        }
        BenchResult(
            scenario: "latency", backend: backend, tasks: samples, seconds: seconds(since: start),
            p50: Double(latencies.valueAtPercentile(50)) / 1e6, p99: Double(latencies.valueAtPercentile(99)) / 1e6,
            baselineName: "task-to-task wake-up", baselinePerSec: hopRate
        ).print()
    }

    /// Throughput with 1,000 vs 1,000,000 tasks already queued, and resident bytes per queued task.
    static func depth(quick: Bool) async throws {
        let deep = quick ? 100_000 : 1_000_000
        let measured = quick ? 20_000 : 200_000
        func rate(queued: Int) async throws -> (perSecond: Double, bytesPerTask: Double) {
            let engine = TaskEngine.memory()
            return try await depthRate(engine: engine, queued: queued, measured: measured)
        }
        let shallow = try await rate(queued: 1_000)
        let start = ContinuousClock.now
        let full = try await rate(queued: deep)
        BenchResult(
            scenario: "depth", backend: "memory", tasks: measured, seconds: Double(measured) / full.perSecond,
            baselineName: "the same with 1,000 queued", baselinePerSec: shallow.perSecond,
            extra: [("queued", "\(deep)"), ("bytes_per_queued_task", "\(Int(full.bytesPerTask))"), ("payload_bytes", "36"),
                    ("wall_seconds", "\((seconds(since: start) * 1000).rounded() / 1000)")]
        ).print()
    }

    /// Enqueues `queued` tasks, then measures enqueue + lease + complete in batches of 100;
    /// with the resident bytes the queued tasks took.
    static func depthRate(engine: TaskEngine, queued: Int, measured: Int) async throws -> (perSecond: Double, bytesPerTask: Double) {
        do {
            let payload = try RawJSON(validating: #"{"tool_name":"echo","input":{"i":1}}"#)
            let before = residentBytes()
            var left = queued
            while left > 0 {
                let n = min(left, 1000)
                _ = try await engine.enqueue(batch: Array(repeating: TaskSubmission(queue: "deep", payload: payload), count: n))
                left -= n
            }
            let bytes = Double(residentBytes() - before) / Double(queued)
            let start = ContinuousClock.now
            var done = 0
            while done < measured {
                _ = try await engine.enqueue(batch: Array(repeating: TaskSubmission(queue: "deep", payload: payload), count: 100))
                for lease in try await engine.lease(LeaseRequest(workerID: "w", queues: ["deep"], maxTasks: 100)) {
                    _ = try await engine.complete(leaseID: lease.leaseID, result: nil)
                }
                done += 100
            }
            return (Double(done) / seconds(since: start), bytes)
        }
    }

    /// Acquire/release pairs per second, one holder per key, against a bare Mutex's lock/unlock.
    static func locks(quick: Bool, redis: RedisURL?) async throws {
        let pairs = quick ? 50_000 : 1_000_000
        let mutex = Mutex(0)
        let mutexStart = ContinuousClock.now
        for _ in 0..<pairs { mutex.withLock { $0 += 1 } }
        let mutexRate = Double(pairs) / seconds(since: mutexStart)
        let memory = MemoryLockService()
        let start = ContinuousClock.now
        for i in 0..<pairs {
            let key = "k\(i & 1023)"
            guard let lease = try await memory.acquire(key: key, holder: "h", ttl: .seconds(30), wait: .zero) else { continue }
            try await memory.release(key: key, holder: "h", token: lease.token)
        }
        BenchResult(
            scenario: "locks", backend: "memory", tasks: pairs, seconds: seconds(since: start),
            baselineName: "Mutex lock/unlock", baselinePerSec: mutexRate
        ).print()
        guard let redis else { return }
        let client = RedisClient(RedisClient.Configuration(url: redis))
        let service = RedisLockService(client: client, prefix: "bench-\(UInt32.random(in: 0...UInt32.max))")
        let redisPairs = quick ? 5_000 : 100_000
        let ping = try await pingRate(client, count: redisPairs, concurrency: 64)
        let redisStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<64 {
                group.addTask {
                    for i in stride(from: lane, to: redisPairs, by: 64) {
                        let key = "k\(i & 1023)"
                        guard let lease = try await service.acquire(key: key, holder: "h\(lane)", ttl: .seconds(30), wait: .zero) else { continue }
                        try await service.release(key: key, holder: "h\(lane)", token: lease.token)
                    }
                }
            }
            try await group.waitForAll()
        }
        BenchResult(
            scenario: "locks", backend: "redis", tasks: redisPairs, seconds: seconds(since: redisStart),
            baselineName: "PING, 64 in flight", baselinePerSec: ping
        ).print()
        await client.close()
    }

    static func pingRate(_ client: RedisClient, count: Int, concurrency: Int) async throws -> Double {
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<concurrency {
                group.addTask {
                    for _ in stride(from: lane, to: count, by: concurrency) { _ = try await client.send(RESPCommand("PING")) }
                }
            }
            try await group.waitForAll()
        }
        return Double(count) / seconds(since: start)
    }

    /// The shared-backend shape (`redis`, `nats`): 2 producers enqueue batches of 100, 8
    /// consumers lease up to 100 and complete each lease's tasks together, as a `Worker` reports.
    /// Returns the seconds it took.
    static func endToEnd(_ engine: TaskEngine, tasks: Int) async throws -> Double {
        let toEnqueue = Counter(tasks)
        let toComplete = Counter(tasks)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    while case let n = toEnqueue.take(upTo: 100), n > 0 {
                        _ = try await engine.enqueue(batch: Array(repeating: TaskSubmission(type: "noop", payload: .emptyObject), count: n))
                    }
                }
            }
            for consumer in 0..<8 {
                group.addTask {
                    while toComplete.value > 0 {
                        let leases = try await engine.lease(
                            LeaseRequest(workerID: "bench-\(consumer)", maxTasks: 100, wait: .milliseconds(200)))
                        if !leases.isEmpty {
                            for outcome in try await engine.complete(batch: leases.map { LeaseCompletion(leaseID: $0.leaseID, result: nil) }) {
                                _ = try outcome.get()
                            }
                        }
                        toComplete.add(-leases.count)
                    }
                }
            }
            try await group.waitForAll()
        }
        return seconds(since: start)
    }

    /// End to end through Redis (`endToEnd`).
    static func redis(quick: Bool, url: RedisURL) async throws {
        let tasks = quick ? 10_000 : 200_000
        var configuration = RedisClient.Configuration(url: url)
        configuration.connectionCount = 4
        let client = RedisClient(configuration)
        let ping = try await pingRate(client, count: quick ? 20_000 : 200_000, concurrency: 64)
        let engine = TaskEngine(backend: RedisTaskBackend(client: client, prefix: "bench-\(UInt32.random(in: 0...UInt32.max))"))
        let elapsed = try await endToEnd(engine, tasks: tasks)
        BenchResult(
            scenario: "redis", backend: "redis", tasks: tasks, seconds: elapsed,
            baselineName: "PING, 64 in flight (our client)", baselinePerSec: ping
        ).print()
        await client.close()
    }
}

/// A count several tasks change.
final class Counter: Sendable {
    private let count: Mutex<Int>

    init(_ value: Int = 0) { count = Mutex(value) }

    var value: Int { count.withLock { $0 } }

    func add(_ n: Int) { count.withLock { $0 += n } }

    /// Takes up to `n` from what is left.
    func take(upTo n: Int) -> Int {
        count.withLock { left in
            let taken = min(n, left)
            left -= taken
            return taken
        }
    }
}

/// One-shot signals in sequence: `wait` returns after the next `signal` (or a pending one).
final class Started: Sendable {
    private let state = Mutex<(pending: Int, waiter: CheckedContinuation<Void, Never>?)>((0, nil))

    func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let waiter = s.waiter {
                s.waiter = nil
                return waiter
            }
            s.pending += 1
            return nil
        }
        waiter?.resume()
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { s -> Bool in
                if s.pending > 0 {
                    s.pending -= 1
                    return true
                }
                s.waiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }
}

func residentBytes() -> Int {
    #if canImport(Glibc)
    guard let file = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 128)
    guard fgets(&buffer, Int32(buffer.count), file) != nil else { return 0 }
    let fields = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    #else
    return 0
    #endif
}
