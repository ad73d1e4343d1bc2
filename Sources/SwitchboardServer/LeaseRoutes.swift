import HTTPTypes
import Hummingbird
import ServiceLifecycle
import SwitchboardAPI
import SwitchboardAuth
import SwitchboardCore
import SwitchboardJSON
import Synchronization

/// `/v1/leases` and `/v1/workers`: the lease protocol of remote workers, the same calls an
/// in-process worker makes on the engine.
struct LeaseRoutes<Context: SwitchboardContext> {
    let engine: TaskEngine
    let maxBodyBytes: Int

    func add(to router: Router<Context>, table: RouteTable) {
        table.on(router, .post, "/v1/leases", .allowing(.worker), use: lease)
        table.on(router, .post, "/v1/leases/complete", .allowing(.worker), use: completeBatch)
        table.on(router, .post, "/v1/leases/:lease_id/heartbeat", .allowing(.worker), use: heartbeat)
        table.on(router, .post, "/v1/leases/:lease_id/complete", .allowing(.worker), use: complete)
        table.on(router, .post, "/v1/leases/:lease_id/fail", .allowing(.worker), use: fail)
        table.on(router, .post, "/v1/leases/:lease_id/release", .allowing(.worker), use: release)
        table.on(router, .get, "/v1/workers", .allowing(.viewer, .operator, .worker), use: workers)
    }

    @Sendable func lease(_ request: Request, context: Context) async throws -> Response {
        let body = try await request.jsonObject(limit: maxBodyBytes)
        try body.rejectUnknown(allowed: ["worker_id", "queues", "max_tasks", "lease_ms", "wait_ms", "host", "slots", "tools", "complete"])
        let slots = try body.integer("slots")
        let leaseRequest = LeaseRequest(
            workerID: try required(body.string("worker_id"), "worker_id"),
            queues: try body.strings("queues") ?? [engine.configuration.defaultQueue],
            maxTasks: Int(try body.integer("max_tasks") ?? 1),
            leaseDuration: try body.integer("lease_ms").map { .milliseconds($0) },
            wait: .milliseconds(try body.integer("wait_ms") ?? 0),
            host: try body.string("host"), slots: slots.map { Int(clamping: $0) }, tools: try Self.tools(in: body))
        try engine.validate(leaseRequest)
        for queue in leaseRequest.queues { try context.authorize(queue: queue) }
        // Tasks the worker finished, carried on its next lease call: completed first (a bad
        // item refuses the whole call before anything changes), answered with statuses only.
        let carried = try LeaseCompletion.readList(in: body, "complete")
        var completed: ([LeaseCompletion], [Result<TaskRecord, SwitchboardError>])?
        if let carried { completed = (carried, try await complete(carried)) }
        // A busy queue answers from the first, immediate try; a long-poll ends (empty) when its
        // client goes away or the server starts shutting down, and tasks leased in the instant
        // a client went are given back at once (`TaskSource.lease(_:unless:)`).
        let leases = try await engine.lease(leaseRequest, unless: RequestPresence(channel: context.channel))
        return Self.answer(leases, completed: completed)
    }

    /// `tools`: `[{"name", "description", "input_schema"}]`, what the worker runs.
    static func tools(in body: JSONObjectReader) throws -> [ToolDescriptor]? {
        guard let items = try body.objects("tools") else { return nil }
        return try items.map { item in
            try item.rejectUnknown(allowed: ["name", "description", "input_schema", "lock_key"])
            guard let name = try item.string("name") else { throw SwitchboardError.invalid("\(item.path)name is required") }
            let schema = item.raw("input_schema")
            if let schema, schema.objectMembers() == nil {
                throw SwitchboardError.invalid("\(item.path)input_schema must be an object (a JSON Schema)")
            }
            return ToolDescriptor(
                name: name, description: try item.string("description") ?? "", inputSchema: schema, lockKey: try item.string("lock_key"))
        }
    }

    /// `{"items": [...]}`, and `"completed"` (statuses in the order given) when the call carried
    /// completions.
    private static func answer(
        _ leases: [TaskLease], completed: ([LeaseCompletion], [Result<TaskRecord, SwitchboardError>])? = nil
    ) -> Response {
        var w = JSONWriter(capacity: LeaseAnswer.capacity(for: leases))
        LeaseAnswer.write(leases: leases, completed: completed.map { statuses($0.0, $0.1, withTasks: false) }, to: &w)
        return JSONResponse.ok(w)
    }

    /// Each completion's outcome. A backend that cannot be reached fails the whole call (503),
    /// as a single call would.
    private func complete(_ completions: [LeaseCompletion]) async throws -> [Result<TaskRecord, SwitchboardError>] {
        let outcomes = try await engine.complete(batch: completions).map { outcome in
            outcome.mapError { error in error as? SwitchboardError ?? .invalid("\(error)") }
        }
        for case .failure(let error) in outcomes where error.kind == .unavailable { throw error }
        return outcomes
    }

    /// Each completion's status, its task only when asked for.
    private static func statuses(
        _ completions: [LeaseCompletion], _ outcomes: [Result<TaskRecord, SwitchboardError>], withTasks: Bool
    ) -> [(leaseID: String, status: CompletionStatus)] {
        zip(completions, outcomes).map { completion, outcome in
            (completion.leaseID, CompletionStatus(outcome, withTask: withTasks))
        }
    }

    @Sendable func heartbeat(_ request: Request, context: Context) async throws -> Response {
        let body = try await request.optionalJSONObject(limit: maxBodyBytes)
        try body.rejectUnknown(allowed: ["extend_ms", "worker_id"])
        let status = try await engine.heartbeat(
            leaseID: try context.parameter("lease_id"), extendBy: try body.integer("extend_ms").map { .milliseconds($0) },
            workerID: try workerID(body))
        var w = JSONWriter(capacity: 80)
        status.write(to: &w)
        return JSONResponse.ok(w)
    }

    @Sendable func complete(_ request: Request, context: Context) async throws -> Response {
        let body = try await request.optionalJSONObject(limit: maxBodyBytes)
        try body.rejectUnknown(allowed: ["result"])
        let result = body.raw("result").flatMap { $0.isNull ? nil : $0 }
        return JSONResponse.task(try await engine.complete(leaseID: try context.parameter("lease_id"), result: result))
    }

    /// Many completions in one call (as SQS's DeleteMessageBatch): each item succeeds or fails on
    /// its own, and the answer says which.
    @Sendable func completeBatch(_ request: Request, context: Context) async throws -> Response {
        let body = try await request.jsonObject(limit: maxBodyBytes)
        try body.rejectUnknown(allowed: ["items", "return_tasks"])
        let returnTasks = try body.bool("return_tasks") ?? true
        guard let completions = try LeaseCompletion.readList(in: body, "items") else {
            throw SwitchboardError.invalid("items must hold 1-1000 completions")
        }
        let outcomes = try await complete(completions)
        var w = JSONWriter(capacity: 64 + completions.count * (returnTasks ? 768 : 64))
        ItemsPage.write(Self.statuses(completions, outcomes, withTasks: returnTasks), to: &w) { w, entry in
            entry.status.write(leaseID: entry.leaseID, to: &w)
        }
        return JSONResponse.ok(w)
    }

    @Sendable func fail(_ request: Request, context: Context) async throws -> Response {
        let body = try await request.jsonObject(limit: maxBodyBytes)
        try body.rejectUnknown(allowed: ["error", "retryable", "max_retries", "retry_delay_ms"])
        // A worker's own retry limit and base delay, applied by the engine as in process.
        let report = TaskFailureReport(
            message: try required(body.string("error"), "error"), retryable: try body.bool("retryable") ?? true,
            maxRetries: try body.integer("max_retries").map { Int($0) }, retryDelay: try body.integer("retry_delay_ms").map { .milliseconds($0) })
        return JSONResponse.task(try await engine.fail(leaseID: try context.parameter("lease_id"), failure: report))
    }

    @Sendable func release(_ request: Request, context: Context) async throws -> Response {
        let body = try await request.optionalJSONObject(limit: maxBodyBytes)
        try body.rejectUnknown(allowed: ["worker_id"])
        return JSONResponse.task(try await engine.release(leaseID: try context.parameter("lease_id"), workerID: try workerID(body)))
    }

    @Sendable func workers(_ request: Request, context: Context) async throws -> Response {
        JSONResponse.items(engine.workers.list(now: engine.clock.now())) { w, info in info.write(to: &w) }
    }

    private func workerID(_ body: JSONObjectReader) throws -> String? {
        try body.string("worker_id")
    }
}
