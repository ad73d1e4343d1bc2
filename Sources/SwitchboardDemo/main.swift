import Logging
import ServiceLifecycle
import SwitchboardAPI
import SwitchboardCore
import SwitchboardJSON
import UnixSignals

// The embedded engine end to end, in one process: an agent run of tool calls goes through the
// memory backend, in-process workers run them, one fails into the dead-letter queue and is
// requeued. (Measurements live in `switchboard-bench`.)

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}

try await runDemo()

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
