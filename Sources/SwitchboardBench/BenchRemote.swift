import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle
import SwitchboardCore
import SwitchboardJSON
import SwitchboardServer
import Synchronization

/// The remote scenario: no-op tasks drained by two `switchboard worker` processes over HTTP,
/// against two in-process workers of as many slots on the same kind of server, back to back.
enum BenchRemote {
    static func run(quick: Bool, slots: Int = 32, switchboard: URL) async throws {
        // Below the memory backend's 100,000 kept finished tasks, which the drain counts.
        let tasks = quick ? 5_000 : 80_000
        let inProcess = try await drain(tasks: tasks, slots: slots, remote: false, switchboard: switchboard)
        let remote = try await drain(tasks: tasks, slots: slots, remote: true, switchboard: switchboard)
        BenchResult(
            scenario: "remote", backend: "memory", tasks: tasks, seconds: remote,
            baselineName: "two in-process workers of \(slots) slots", baselinePerSec: Double(tasks) / inProcess,
            extra: [("workers", "2"), ("slots_per_worker", "\(slots)")]
        ).print()
    }

    /// Seconds from resuming a paused queue of `tasks` echo calls, with every worker started
    /// and waiting on it, to the last completion (process start-up is not part of the figure).
    private static func drain(tasks: Int, slots: Int, remote: Bool, switchboard: URL) async throws -> Double {
        let metrics = ServerMetrics()
        let engine = TaskEngine.memory(metricsFactory: metrics.factory)
        _ = try await engine.pause(queue: "bench")
        let submission = TaskSubmission(queue: "bench", payload: try RawJSON(validating: #"{"tool_name":"echo","input":{}}"#))
        for _ in 0..<(tasks / 1000) { _ = try await engine.enqueue(batch: Array(repeating: submission, count: 1000)) }
        _ = try await engine.enqueue(batch: Array(repeating: submission, count: tasks % 1000 == 0 ? 1 : tasks % 1000))
        let total = tasks + (tasks % 1000 == 0 ? 1 : 0)
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let workers = remote ? [] : (0..<2).map { i in
            Worker(
                configuration: Worker.Configuration(id: "local-\(i)", queues: ["bench"], concurrency: slots), source: engine,
                locks: MemoryLockService(), logger: logger)
        }
        let server = ControlPlane(
            engine: engine, locks: MemoryLockService(), metrics: metrics, settings: ServerSettings(), eventLoopGroup: BenchScenarios.serverLoops)
        let port = Mutex<Int?>(nil)
        let app = Application(
            router: server.router(context: SwitchboardRequestContext.self),
            server: server.httpServer,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            services: workers,
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } },
            eventLoopGroupProvider: .shared(server.eventLoopGroup),
            logger: logger)
        let group = ServiceGroup(services: [app], logger: logger)
        let running = Task { try await group.run() }
        while port.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(5)) }
        var processes: [Process] = []
        if remote {
            for i in 0..<2 {
                let process = Process()
                process.executableURL = switchboard
                process.arguments = [
                    "worker", "--server", "http://127.0.0.1:\(port.withLock { $0 }!)", "--id", "remote-\(i)", "--concurrency", "\(slots)",
                    "--queues", "bench", "--wait-ms", "1000", "--log-level", "error",
                ]
                try process.run()
                processes.append(process)
            }
        }
        defer { for process in processes where process.isRunning { process.terminate() } }
        let launched = ContinuousClock.now
        while engine.workers.list(now: .now()).count < 2 {
            guard ContinuousClock.now - launched < .seconds(30) else { throw BenchError("the workers did not start in 30 s") }
            try await Task.sleep(for: .milliseconds(5))
        }
        let start = ContinuousClock.now
        _ = try await engine.resume(queue: "bench")
        while try await engine.queues().first(where: { $0.name == "bench" })?.depth[.completed] ?? 0 < total {
            guard ContinuousClock.now - start < .seconds(300) else {
                throw BenchError("the \(remote ? "remote" : "in-process") workers did not drain \(total) tasks in 5 minutes")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        let seconds = BenchScenarios.seconds(since: start)
        for process in processes { process.terminate() }
        for process in processes { await waitForExit(process) }
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        return seconds
    }

    /// Polls instead of `waitUntilExit`, which would hold one of the cooperative threads.
    private static func waitForExit(_ process: Process) async {
        while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
    }
}
