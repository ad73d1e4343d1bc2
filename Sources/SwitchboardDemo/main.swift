import Logging
import Synchronization
import ServiceLifecycle
import SwitchboardCore
import SwitchboardRESP
import SwitchboardRedis
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

// The embedded engine end to end, in one process: an agent run of tool calls goes through the
// memory backend, in-process workers run them, one fails into the dead-letter queue and is
// requeued. `switchboard-demo memory N` instead measures bytes of memory per queued task,
// `throughput N` the engine's rate, and `redis URL N` the end-to-end rate through Redis next to
// the rate of PINGs and SETs over the same client (use a scratch database: keys are left behind).

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}

let arguments = CommandLine.arguments.dropFirst()
if arguments.first == "memory" {
    try await measureMemory(tasks: arguments.dropFirst().first.flatMap { Int($0) } ?? 1_000_000)
} else if arguments.first == "redis", let url = arguments.dropFirst().first {
    try await measureRedis(url: try RedisURL(url), tasks: arguments.dropFirst(2).first.flatMap { Int($0) } ?? 100_000)
} else if arguments.first == "throughput" {
    try await measureThroughput(tasks: arguments.dropFirst().first.flatMap { Int($0) } ?? 200_000)
} else {
    try await runDemo()
}

func runDemo() async throws {
    let engine = TaskEngine.memory()
    let worker = Worker(
        configuration: Worker.Configuration(id: "demo-worker", concurrency: 4),
        source: engine, locks: MemoryLockService())
    let group = ServiceGroup(
        configuration: ServiceGroupConfiguration(
            services: [.init(service: worker), .init(service: EngineMaintenanceService(engine: engine))],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: Logger(label: "switchboard.demo")))
    async let running: Void = group.run()

    var submissions: [TaskSubmission] = (1...3).map { i in
        .toolCall("echo", input: try! RawJSON(validating: #"{"step": \#(i)}"#), reason: "gathering info")
    }
    submissions.append(.toolCall("sleep", input: try RawJSON(validating: #"{"ms": 200}"#), reason: "waiting on a slow tool"))
    var doomed = TaskSubmission.toolCall(
        "fail", input: try RawJSON(validating: #"{"message": "the tool is broken", "retryable": false}"#))
    doomed.priority = 9
    submissions.append(doomed)
    for i in submissions.indices { submissions[i].runID = "demo-run" }

    let ids = try await engine.enqueue(batch: submissions).map(\.task.id)
    print("enqueued \(ids.count) tool calls in run demo-run")
    try await waitUntilFinished(engine, ids)
    for id in ids {
        let task = try await engine.task(id: id)
        print(String(decoding: task.jsonBytes(), as: UTF8.self))
    }
    let dead = try await engine.deadLetters()
    print("dead-letter queue: \(dead.items.map(\.id))")
    print("requeued: \(try await engine.requeueDead())")
    print("run counts: \(try await engine.run("demo-run").counts.map { "\($0.key.rawValue)=\($0.value)" }.sorted())")
    let m = worker.metrics
    print("worker: started \(m.tasksStarted), completed \(m.tasksCompleted), failed \(m.tasksFailed), average \(m.averageTaskDuration)")
    await group.triggerGracefulShutdown()
    try await running
}

func waitUntilFinished(_ engine: TaskEngine, _ ids: [String]) async throws {
    for id in ids {
        while try await !engine.task(id: id).status.isFinished {
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// Enqueues `tasks` small tool calls and reports the growth of resident memory per task.
func measureMemory(tasks: Int) async throws {
    let engine = TaskEngine.memory()
    let payload = try RawJSON(validating: #"{"tool_name":"echo","input":{"i":1}}"#)
    let before = residentBytes()
    var remaining = tasks
    while remaining > 0 {
        let n = min(remaining, 1000)
        _ = try await engine.enqueue(batch: Array(repeating: TaskSubmission(type: "tool_call", payload: payload), count: n))
        remaining -= n
    }
    let after = residentBytes()
    let perTask = Double(after - before) / Double(tasks)
    print(#"{"tasks": \#(tasks), "rss_delta_bytes": \#(after - before), "bytes_per_task": \#(Int(perTask)), "payload_bytes": \#(payload.bytes.count), "task_record_struct_bytes": \#(MemoryLayout<TaskRecord>.stride)}"#)
    _ = try await engine.queues()
}

/// A quick sanity figure (the benchmark harness is the real one): enqueue, lease and complete
/// `tasks` no-op tasks through the engine in batches of 100, on one task.
func measureThroughput(tasks: Int) async throws {
    let engine = TaskEngine.memory()
    let payload = RawJSON.emptyObject
    let start = ContinuousClock.now
    var done = 0
    while done < tasks {
        _ = try await engine.enqueue(batch: Array(repeating: TaskSubmission(type: "noop", payload: payload), count: 100))
        for lease in try await engine.lease(LeaseRequest(workerID: "w", maxTasks: 100)) {
            _ = try await engine.complete(leaseID: lease.leaseID, result: nil)
        }
        done += 100
    }
    let seconds = Double((ContinuousClock.now - start).components.attoseconds) / 1e18
        + Double((ContinuousClock.now - start).components.seconds)
    print(#"{"tasks": \#(done), "seconds": \#(seconds), "tasks_per_sec": \#(Int(Double(done) / seconds))}"#)
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

/// End to end through Redis: producers enqueue no-op tasks in batches of 100 while consumers
/// lease up to 100 at a time and complete them all at once (pipelined on the client's
/// connections). The baseline, in the same run: PING and SET with the same concurrency.
func measureRedis(url: RedisURL, tasks: Int) async throws {
    var configuration = RedisClient.Configuration(url: url)
    configuration.connectionCount = 4
    let client = RedisClient(configuration)
    let prefix = "bench-\(UInt32.random(in: 0...UInt32.max))"
    let engine = TaskEngine(backend: RedisTaskBackend(client: client, prefix: prefix))

    func rate(_ name: String, _ count: Int, concurrency: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws -> Double {
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<concurrency {
                group.addTask {
                    for i in stride(from: lane, to: count, by: concurrency) { try await body(i) }
                }
            }
            try await group.waitForAll()
        }
        let perSecond = Double(count) / seconds(since: start)
        print(#"{"measure": "\#(name)", "count": \#(count), "per_sec": \#(Int(perSecond))}"#)
        return perSecond
    }

    let ping = try await rate("redis PING (our client, 64 in flight)", 200_000, concurrency: 64) { _ in
        _ = try await client.send(RESPCommand("PING"))
    }
    _ = try await rate("redis SET (our client, 64 in flight)", 200_000, concurrency: 64) { i in
        _ = try await client.send(RESPCommand("SET", "\(prefix):k:\(i % 1000)", "v"))
    }

    let payload = RawJSON.emptyObject
    let start = ContinuousClock.now
    let completed = try await withThrowingTaskGroup(of: Int.self) { group in
        let toEnqueue = Shared(tasks)
        for _ in 0..<2 {
            group.addTask {
                while case let n = toEnqueue.withLock({ left in
                    let n = min(100, left)
                    left -= n
                    return n
                }), n > 0 {
                    _ = try await engine.enqueue(batch: Array(repeating: TaskSubmission(type: "noop", payload: payload), count: n))
                }
                return 0
            }
        }
        let remaining = Shared(tasks)
        for consumer in 0..<8 {
            group.addTask {
                var mine = 0
                while remaining.withLock({ $0 }) > 0 {
                    let leases = try await engine.lease(
                        LeaseRequest(workerID: "bench-\(consumer)", queues: ["default"], maxTasks: 100, wait: .milliseconds(200)))
                    try await withThrowingTaskGroup(of: Void.self) { completions in
                        for lease in leases {
                            completions.addTask { _ = try await engine.complete(leaseID: lease.leaseID, result: nil) }
                        }
                        try await completions.waitForAll()
                    }
                    mine += leases.count
                    remaining.withLock { $0 -= leases.count }
                }
                return mine
            }
        }
        return try await group.reduce(0, +)
    }
    let perSecond = Double(completed) / seconds(since: start)
    print(#"{"measure": "end to end (2 producers enqueueing batches of 100, 8 consumers leasing up to 100 and completing them at once)", "tasks": \#(completed), "tasks_per_sec": \#(Int(perSecond)), "ratio_to_ping": \#((perSecond / ping * 1000).rounded() / 1000)}"#)
    await client.close()
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// A value several tasks update.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
