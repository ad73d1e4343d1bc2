import HTTPTypes
import Hummingbird
import SwitchboardCore

/// `/v1/tasks` and `/v1/runs`: decode, call the engine, encode.
struct TaskRoutes<Context: RequestContext> {
    let engine: TaskEngine
    let maxBodyBytes: Int

    func add(to router: Router<Context>, table: RouteTable) {
        table.on(router, .post, "/v1/tasks", use: enqueue)
        table.on(router, .post, "/v1/tasks/batch", use: enqueueBatch)
        table.on(router, .get, "/v1/tasks", use: list)
        table.on(router, .get, "/v1/tasks/:id", use: get)
        table.on(router, .post, "/v1/tasks/:id/cancel", use: cancel)
        table.on(router, .get, "/v1/runs/:run_id", use: run)
    }

    @Sendable func enqueue(_ request: Request, context: Context) async throws -> Response {
        let object = try await request.jsonObject(limit: maxBodyBytes)
        var submission = try TaskSubmission(object)
        if let key = request.headers[.idempotencyKey] {
            // The header wins over the field, but a bad field is still refused.
            if let field = submission.idempotencyKey, !NamePattern.isPrintable(field, maxLength: 256) {
                throw SwitchboardError.invalid("idempotency_key must be 1-256 printable characters")
            }
            guard !key.isEmpty, key.utf8.count <= 256, key.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
                throw SwitchboardError.invalid("the Idempotency-Key header must be 1-256 printable ASCII characters")
            }
            submission.idempotencyKey = key
        }
        let outcome = try await engine.enqueue(submission)
        return JSONResponse.task(
            outcome.task, status: outcome.created ? .created : .ok, headers: [.location: "/v1/tasks/\(outcome.task.id)"])
    }

    @Sendable func enqueueBatch(_ request: Request, context: Context) async throws -> Response {
        let object = try await request.jsonObject(limit: maxBodyBytes)
        try object.rejectUnknown(allowed: ["items"])
        guard let items = try object.objects("items") else { throw SwitchboardError.invalid("items is required") }
        let submissions = try items.map { item throws(SwitchboardError) in try TaskSubmission(item) }
        let outcomes = try await engine.enqueue(batch: submissions)
        return JSONResponse.tasks(outcomes.map(\.task), status: .created)
    }

    @Sendable func get(_ request: Request, context: Context) async throws -> Response {
        JSONResponse.task(try await engine.task(id: context.parameter("id")))
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let filter = try TaskFilter(
            queue: request.nameQuery("queue"), status: request.statusQuery(), type: request.nameQuery("type"),
            runID: request.nameQuery("run_id"))
        let page = try await engine.list(filter, page: request.pageRequest())
        return JSONResponse.tasks(page.items, page: page.nextCursor)
    }

    @Sendable func cancel(_ request: Request, context: Context) async throws -> Response {
        JSONResponse.task(try await engine.cancel(id: context.parameter("id")))
    }

    @Sendable func run(_ request: Request, context: Context) async throws -> Response {
        let summary = try await engine.run(try context.parameter("run_id"))
        var w = JSONWriter(capacity: 128 + summary.tasks.count * 700)
        w.beginObject()
        w.key("run_id"); w.string(summary.runID)
        w.key("counts")
        w.beginObject()
        for status in TaskStatus.allCases {
            w.key(computed: status.rawValue)
            w.int(summary.counts[status] ?? 0)
        }
        w.endObject()
        w.key("tasks")
        w.beginArray()
        for task in summary.tasks { task.write(to: &w) }
        w.endArray()
        w.endObject()
        return JSONResponse.ok(w)
    }
}

extension Request {
    func statusQuery() throws(SwitchboardError) -> TaskStatus? {
        guard let text = query("status") else { return nil }
        guard let status = TaskStatus(rawValue: text) else {
            throw .invalid("status must be one of \(TaskStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return status
    }
}

extension HTTPField.Name {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}

/// `/v1/dlq`: the dead-letter queue.
struct DeadLetterRoutes<Context: RequestContext> {
    let engine: TaskEngine

    func add(to router: Router<Context>, table: RouteTable) {
        table.on(router, .get, "/v1/dlq", use: list)
        table.on(router, .post, "/v1/dlq/requeue", use: requeueAll)
        table.on(router, .post, "/v1/dlq/:id/requeue", use: requeue)
        table.on(router, .delete, "/v1/dlq/:id", use: delete)
        table.on(router, .delete, "/v1/dlq", use: purge)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let page = try await engine.deadLetters(
            queue: request.nameQuery("queue"), type: request.nameQuery("type"), page: request.pageRequest())
        return JSONResponse.tasks(page.items, page: page.nextCursor)
    }

    @Sendable func requeue(_ request: Request, context: Context) async throws -> Response {
        JSONResponse.task(try await engine.requeueDead(id: context.parameter("id")))
    }

    @Sendable func requeueAll(_ request: Request, context: Context) async throws -> Response {
        let count = try await engine.requeueDead(queue: request.nameQuery("queue"), type: request.nameQuery("type"))
        return JSONResponse.object { $0.key("requeued"); $0.int(count) }
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        try await engine.deleteDead(id: context.parameter("id"))
        return JSONResponse.noContent
    }

    @Sendable func purge(_ request: Request, context: Context) async throws -> Response {
        let count = try await engine.purgeDead(queue: request.nameQuery("queue"), type: request.nameQuery("type"))
        return JSONResponse.object { $0.key("deleted"); $0.int(count) }
    }
}

/// `/v1/queues`.
struct QueueRoutes<Context: RequestContext> {
    let engine: TaskEngine

    func add(to router: Router<Context>, table: RouteTable) {
        table.on(router, .get, "/v1/queues", use: list)
        table.on(router, .post, "/v1/queues/:name/pause", use: pause)
        table.on(router, .post, "/v1/queues/:name/resume", use: resume)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        JSONResponse.items(try await engine.queues()) { w, queue in w.queueInfo(queue) }
    }

    @Sendable func pause(_ request: Request, context: Context) async throws -> Response {
        JSONResponse.queue(try await engine.pause(queue: context.parameter("name")))
    }

    @Sendable func resume(_ request: Request, context: Context) async throws -> Response {
        JSONResponse.queue(try await engine.resume(queue: context.parameter("name")))
    }
}
