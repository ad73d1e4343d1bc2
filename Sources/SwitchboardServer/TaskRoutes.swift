import HTTPTypes
import Hummingbird
import SwitchboardAPI
import SwitchboardAuth
import SwitchboardCore
import SwitchboardJSON

/// `/v1/tasks` and `/v1/runs`: decode, call the engine, encode.
struct TaskRoutes<Context: SwitchboardContext> {
    let engine: TaskEngine
    let maxBodyBytes: Int

    func add(to router: Router<Context>, table: RouteTable) {
        table.on(router, .post, "/v1/tasks", .allowing(.producer), use: enqueue)
        table.on(router, .post, "/v1/tasks/batch", .allowing(.producer), use: enqueueBatch)
        table.on(router, .get, "/v1/tasks", .allowing(.viewer, .producer, .operator), use: list)
        table.on(router, .get, "/v1/tasks/:id", .allowing(.viewer, .producer, .operator), use: get)
        table.on(router, .post, "/v1/tasks/:id/cancel", .allowing(.producer, .operator, audit: "task.cancel"), use: cancel)
        table.on(router, .get, "/v1/runs", .allowing(.viewer, .producer, .operator), use: runs)
        table.on(router, .get, "/v1/runs/:run_id", .allowing(.viewer, .producer, .operator), use: run)
    }

    @Sendable func runs(_ request: Request, context: Context) async throws -> Response {
        let page = PageRequest(limit: try request.intQuery("limit") ?? 20, cursor: request.query("cursor"))
        let principal = context.principal
        // A caller limited to some queues sees runs with tasks there, and counts of those only.
        let runs = try await engine.runs(page: page) { principal.mayUse(queue: $0) }
        var w = JSONWriter(capacity: 64 + runs.items.count * 300)
        ItemsPage.write(runs.items, nextCursor: .some(runs.nextCursor), to: &w) { w, run in run.write(to: &w) }
        return JSONResponse.ok(w)
    }

    @Sendable func enqueue(_ request: Request, context: Context) async throws -> Response {
        let object = try await request.jsonObject(limit: maxBodyBytes)
        let submission = try TaskSubmission(object)
        try context.authorize(queue: submission.queue ?? engine.configuration.defaultQueue)
        let outcome = try await engine.enqueue(submission, idempotencyHeader: request.headers[.idempotencyKey])
        return JSONResponse.task(
            outcome.task, status: outcome.created ? .created : .ok, headers: [.location: "/v1/tasks/\(outcome.task.id)"])
    }

    @Sendable func enqueueBatch(_ request: Request, context: Context) async throws -> Response {
        let object = try await request.jsonObject(limit: maxBodyBytes)
        try object.rejectUnknown(allowed: ["items"])
        guard let items = try object.objects("items") else { throw SwitchboardError.invalid("items is required") }
        let submissions = try items.map { item throws(SwitchboardError) in try TaskSubmission(item) }
        for submission in submissions { try context.authorize(queue: submission.queue ?? engine.configuration.defaultQueue) }
        let outcomes = try await engine.enqueue(batch: submissions)
        return JSONResponse.tasks(outcomes.map(\.task), status: .created)
    }

    @Sendable func get(_ request: Request, context: Context) async throws -> Response {
        let task = try await engine.task(id: context.parameter("id"))
        try context.authorize(queue: task.queue)
        return JSONResponse.task(task)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let queue = try context.queueFilter(request.nameQuery("queue"))
        let (status, type, run, tool) = try (request.statusQuery(), request.nameQuery("type"), request.nameQuery("run_id"), request.nameQuery("tool_name"))
        let pageRequest = try request.pageRequest()
        guard let metadata = try request.metadataQuery() else { return JSONResponse.tasks([], page: .some(nil)) }
        let filter = TaskFilter(queue: queue, status: status, type: type, runID: run, toolName: tool, metadata: metadata)
        let page = try await engine.list(filter, page: pageRequest)
        return JSONResponse.tasks(page.items, page: page.nextCursor)
    }

    @Sendable func cancel(_ request: Request, context: Context) async throws -> Response {
        let id = try context.parameter("id")
        if !context.seesEveryQueue { try context.authorize(queue: try await engine.task(id: id).queue) }
        return JSONResponse.task(try await engine.cancel(id: id))
    }

    @Sendable func run(_ request: Request, context: Context) async throws -> Response {
        var summary = try await engine.run(try context.parameter("run_id"))
        if !context.seesEveryQueue {
            // A caller limited to some queues sees the run's tasks in those, and counts of them.
            summary.tasks = summary.tasks.filter { context.principal.mayUse(queue: $0.queue) }
            summary.counts = Dictionary(grouping: summary.tasks, by: \.status).mapValues(\.count)
        }
        var w = JSONWriter(capacity: 128 + summary.tasks.count * 700)
        summary.write(to: &w)
        return JSONResponse.ok(w)
    }
}

extension Request {
    /// `metadata=KEY:VALUE`, repeatable: the key is what comes before the first colon. Nil when
    /// one key is asked to have two values (nothing can match).
    func metadataQuery() throws(SwitchboardError) -> [String: String]? {
        var wanted: [String: String] = [:]
        for text in uri.queryParameters.getAll("metadata") {
            guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
                throw .invalid("metadata filters are KEY:VALUE (key before the first colon), not \(text.debugDescription)")
            }
            let key = String(text[..<colon])
            let value = String(text[text.index(after: colon)...])
            if let other = wanted[key], other != value { return nil }
            wanted[key] = value
        }
        return wanted
    }

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
struct DeadLetterRoutes<Context: SwitchboardContext> {
    let engine: TaskEngine
    let maxBodyBytes: Int

    func add(to router: Router<Context>, table: RouteTable) {
        table.on(router, .get, "/v1/dlq", .allowing(.viewer, .operator), use: list)
        table.on(router, .post, "/v1/dlq/requeue", .allowing(.operator, audit: "dlq.requeue_all"), use: requeueAll)
        table.on(router, .post, "/v1/dlq/delete", .allowing(.operator, audit: "dlq.delete_ids"), use: deleteIDs)
        table.on(router, .post, "/v1/dlq/:id/requeue", .allowing(.operator, audit: "dlq.requeue"), use: requeue)
        table.on(router, .delete, "/v1/dlq/:id", .allowing(.operator, audit: "dlq.delete"), use: delete)
        table.on(router, .delete, "/v1/dlq", .allowing(.operator, audit: "dlq.purge"), use: purge)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let page = try await engine.deadLetters(
            queue: context.queueFilter(request.nameQuery("queue")), type: request.nameQuery("type"), page: request.pageRequest())
        return JSONResponse.tasks(page.items, page: page.nextCursor)
    }

    @Sendable func requeue(_ request: Request, context: Context) async throws -> Response {
        let id = try context.parameter("id")
        if !context.seesEveryQueue { try context.authorize(queue: try await engine.task(id: id).queue) }
        return JSONResponse.task(try await engine.requeueDead(id: id))
    }

    /// By filter (query), or by ids (a body `{"ids": [...]}`), not both.
    @Sendable func requeueAll(_ request: Request, context: Context) async throws -> Response {
        let bytes = try await request.bodyBytes(limit: maxBodyBytes)
        if !bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            let body = try readingWire { () throws(JSONError) in try JSONObjectReader(bytes) }
            try readingWire { () throws(JSONError) in try body.rejectUnknown(allowed: ["ids"]) }
            guard let ids = try readingWire({ () throws(JSONError) in try body.strings("ids") }) else {
                throw SwitchboardError.invalid("a body names the dead tasks to requeue: {\"ids\": [...]}; leave it out to requeue by filter")
            }
            try await authorize(ids, context: context)
            let (requeued, missing) = try await engine.requeueDead(
                ids: ids, matching: TaskFilter(queue: try request.nameQuery("queue"), type: try request.nameQuery("type")))
            return JSONResponse.object { w in
                w.key("requeued"); w.int(requeued.count)
                w.key("missing"); w.beginArray(); for id in missing { w.string(id) }; w.endArray()
            }
        }
        let count = try await engine.requeueDead(queue: context.queueFilter(request.nameQuery("queue")), type: request.nameQuery("type"))
        return JSONResponse.object { $0.key("requeued"); $0.int(count) }
    }

    /// `{"ids": [...]}`: deletes those dead tasks.
    @Sendable func deleteIDs(_ request: Request, context: Context) async throws -> Response {
        let body = try await request.jsonObject(limit: maxBodyBytes)
        try readingWire { () throws(JSONError) in try body.rejectUnknown(allowed: ["ids"]) }
        guard let ids = try readingWire({ () throws(JSONError) in try body.strings("ids") }) else {
            throw SwitchboardError.invalid("ids is required: the dead tasks to delete")
        }
        try await authorize(ids, context: context)
        let (deleted, missing) = try await engine.deleteDead(ids: ids)
        return JSONResponse.object { w in
            w.key("deleted"); w.int(deleted)
            w.key("missing"); w.beginArray(); for id in missing { w.string(id) }; w.endArray()
        }
    }

    /// A token limited to some queues may act only on tasks of those: every named task is
    /// checked before anything changes (unknown ids are the engine's `missing`).
    private func authorize(_ ids: [String], context: Context) async throws {
        guard !context.seesEveryQueue, ids.count <= TaskEngine.maxBulkIDs else { return }
        for id in ids {
            guard let task = try? await engine.task(id: id) else { continue }
            try context.authorize(queue: task.queue)
        }
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        let id = try context.parameter("id")
        if !context.seesEveryQueue { try context.authorize(queue: try await engine.task(id: id).queue) }
        try await engine.deleteDead(id: id)
        return JSONResponse.noContent
    }

    @Sendable func purge(_ request: Request, context: Context) async throws -> Response {
        let count = try await engine.purgeDead(queue: context.queueFilter(request.nameQuery("queue")), type: request.nameQuery("type"))
        return JSONResponse.object { $0.key("deleted"); $0.int(count) }
    }
}

/// `/v1/queues`.
struct QueueRoutes<Context: SwitchboardContext> {
    let engine: TaskEngine

    func add(to router: Router<Context>, table: RouteTable) {
        table.on(router, .get, "/v1/queues", .allowing(.viewer, .operator), use: list)
        table.on(router, .post, "/v1/queues/:name/pause", .allowing(.operator, audit: "queue.pause"), use: pause)
        table.on(router, .post, "/v1/queues/:name/resume", .allowing(.operator, audit: "queue.resume"), use: resume)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let queues = try await engine.queues().filter { context.principal.mayUse(queue: $0.name) }
        return JSONResponse.items(queues) { w, queue in queue.write(to: &w) }
    }

    @Sendable func pause(_ request: Request, context: Context) async throws -> Response {
        let name = try context.parameter("name")
        try context.authorize(queue: name)
        return JSONResponse.queue(try await engine.pause(queue: name))
    }

    @Sendable func resume(_ request: Request, context: Context) async throws -> Response {
        let name = try context.parameter("name")
        try context.authorize(queue: name)
        return JSONResponse.queue(try await engine.resume(queue: name))
    }
}
