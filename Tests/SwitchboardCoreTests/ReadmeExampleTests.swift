import SwitchboardCore
import SwitchboardJSON
import Testing

/// The README's Swift example, verbatim between the markers (a live check compares the two), so
/// that it keeps compiling and doing what it says.
@Suite("README")
struct ReadmeExampleTests {
    @Test("the Swift example compiles and enqueues")
    func swiftExample() async throws {
        // README example: begin
        let engine = TaskEngine.memory()                       // in memory; SQLiteTaskBackend for a file
        let worker = Worker(
            configuration: .init(id: "worker-1", queues: ["default"], concurrency: 8),
            source: engine,                                    // in-process; RemoteTaskSource over REST
            locks: MemoryLockService(),
            tools: .builtins())                                // echo, sleep, fail
        worker.registerHandler(for: "planning") { context in
            // context.task, context.locks, context.tools, context.logger
            try RawJSON(validating: #"{"plan": ["read", "write"]}"#)
        }
        // Run `worker` and `EngineMaintenanceService(engine: engine)` in a swift-service-lifecycle
        // ServiceGroup: SIGTERM stops leasing, drains, and releases what is left.

        _ = try await engine.enqueue(.toolCall("echo", input: try RawJSON(validating: #"{"hi": 1}"#)))
        // README example: end
        let tasks = try await engine.list().items
        #expect(tasks.count == 1 && tasks[0].type == "tool_call")
        _ = worker
    }
}
