import HTTPTypes
import Hummingbird
import ServiceLifecycle
import SwitchboardAuth
import SwitchboardCore
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
        try body.rejectUnknown(allowed: ["worker_id", "queues", "max_tasks", "lease_ms", "wait_ms", "host", "slots", "complete"])
        let slots = try body.integer("slots")
        let leaseRequest = LeaseRequest(
            workerID: try required(body.string("worker_id"), "worker_id"),
            queues: try body.strings("queues") ?? [engine.configuration.defaultQueue],
            maxTasks: Int(try body.integer("max_tasks") ?? 1),
            leaseDuration: try body.integer("lease_ms").map { .milliseconds($0) },
            wait: .milliseconds(try body.integer("wait_ms") ?? 0),
            host: try body.string("host"), slots: slots.map { Int(clamping: $0) })
        try engine.validate(leaseRequest)
        for queue in leaseRequest.queues { try context.authorize(queue: queue) }
        // Tasks the worker finished, carried on its next lease call: completed first (a bad
        // item refuses the whole call before anything changes), answered with statuses only.
        let carried = try Self.completions(in: body, "complete")
        var completed: ([LeaseCompletion], [Result<TaskRecord, SwitchboardError>])?
        if let carried { completed = (carried, try await complete(carried)) }
        // A busy queue answers from the first, immediate try; a long-poll ends (empty) when its
        // client goes away or the server starts shutting down, and tasks leased in the instant
        // a client went are given back at once (`TaskSource.lease(_:unless:)`).
        let leases = try await engine.lease(leaseRequest, unless: RequestPresence(channel: context.channel))
        return Self.answer(leases, completed: completed)
    }

    /// `{"items": [...]}`, and `"completed"` (statuses in the order given) when the call carried
    /// completions.
    private static func answer(
        _ leases: [TaskLease], completed: ([LeaseCompletion], [Result<TaskRecord, SwitchboardError>])? = nil
    ) -> Response {
        // Reserved up front: a thousand tasks would otherwise grow the buffer a dozen times.
        JSONResponse.object(capacity: 96 + leases.count * (768 + (leases.first?.task.payload.bytes.count ?? 0))) { w in
            w.key("items")
            w.beginArray()
            for lease in leases { lease.write(to: &w) }
            w.endArray()
            if let (completions, outcomes) = completed {
                w.key("completed")
                writeStatuses(completions, outcomes, tasks: false, to: &w)
            }
        }
    }

    /// The completions listed in `key` (nil when absent or null), each checked before any is
    /// applied; read in one pass, as a worker sends one per task it ran.
    private static func completions(in body: JSONObjectReader, _ key: String) throws(SwitchboardError) -> [LeaseCompletion]? {
        guard var reader = body.pullReader(key) else { return nil }
        guard reader.kind == .array else { throw .invalid("\(key) must be an array") }
        var completions: [LeaseCompletion] = []
        try reader.beginArray()
        while try reader.nextElement() {
            let index = completions.count
            guard completions.count < 1000 else { throw .invalid("\(key) must hold 1-1000 completions") }
            guard reader.kind == .object else { throw .invalid("\(key)[\(index)] must be an object") }
            var leaseID: String?
            var result: RawJSON?
            try reader.beginObject()
            while let field = try reader.nextKey() {
                if reader.key(field, is: "lease_id") {
                    guard reader.kind == .string || reader.kind == .null else { throw .invalid("\(key)[\(index)].lease_id must be a string") }
                    leaseID = try reader.string()
                } else if reader.key(field, is: "result") {
                    let value = try reader.raw()
                    result = value.isNull ? nil : value
                } else {
                    throw .invalid("unknown field '\(key)[\(index)].\(reader.text(of: field))'")
                }
            }
            guard let leaseID, !leaseID.isEmpty else { throw .invalid("\(key)[\(index)].lease_id is required") }
            completions.append(LeaseCompletion(leaseID: leaseID, result: result))
        }
        guard !completions.isEmpty else { throw .invalid("\(key) must hold 1-1000 completions") }
        return completions
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

    /// `[{"lease_id", "status", "task" | "detail"}]`, the task only when asked for.
    private static func writeStatuses(
        _ completions: [LeaseCompletion], _ outcomes: [Result<TaskRecord, SwitchboardError>], tasks: Bool, to w: inout JSONWriter
    ) {
        w.beginArray()
        for (completion, outcome) in zip(completions, outcomes) {
            w.beginObject()
            w.key("lease_id"); w.string(completion.leaseID)
            switch outcome {
            case .success(let task):
                w.key("status"); w.int(200)
                if tasks { w.key("task"); task.write(to: &w) }
            case .failure(let error):
                w.key("status"); w.int(Problem.status(of: error.kind).code)
                w.key("detail"); w.string(error.detail)
            }
            w.endObject()
        }
        w.endArray()
    }

    @Sendable func heartbeat(_ request: Request, context: Context) async throws -> Response {
        let body = try await request.optionalJSONObject(limit: maxBodyBytes)
        try body.rejectUnknown(allowed: ["extend_ms", "worker_id"])
        let status = try await engine.heartbeat(
            leaseID: try context.parameter("lease_id"), extendBy: try body.integer("extend_ms").map { .milliseconds($0) },
            workerID: try workerID(body))
        return JSONResponse.object { w in
            w.key("expires_at"); w.timestamp(status.expiresAt)
            w.key("cancel_requested"); w.bool(status.cancelRequested)
        }
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
        guard let completions = try Self.completions(in: body, "items") else {
            throw SwitchboardError.invalid("items must hold 1-1000 completions")
        }
        let outcomes = try await complete(completions)
        return JSONResponse.object(capacity: 64 + completions.count * (returnTasks ? 768 : 64)) { w in
            w.key("items")
            Self.writeStatuses(completions, outcomes, tasks: returnTasks, to: &w)
        }
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
        JSONResponse.items(engine.workers.list(now: engine.clock.now())) { w, info in
            w.beginObject()
            w.key("id"); w.string(info.id)
            w.key("host"); w.string(info.host)
            w.key("slots"); if let slots = info.slots { w.int(slots) } else { w.null() }
            w.key("busy"); w.int(info.busy)
            w.key("last_seen"); w.timestamp(info.lastSeen)
            w.key("state"); w.string(info.gone ? "gone" : "active")
            w.key("counters")
            w.beginObject()
            w.key("leased"); w.int(info.leased)
            w.key("completed"); w.int(info.completed)
            w.key("failed"); w.int(info.failed)
            w.key("released"); w.int(info.released)
            w.key("expired"); w.int(info.expired)
            w.endObject()
            w.endObject()
        }
    }

    private func workerID(_ body: JSONObjectReader) throws(SwitchboardError) -> String? {
        try body.string("worker_id")
    }
}
