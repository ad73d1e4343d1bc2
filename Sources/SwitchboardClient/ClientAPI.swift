import NIOCore
import NIOHTTP1
import SwitchboardAPI
import SwitchboardCore
import SwitchboardJSON

extension APIClient {
    private static func segment(_ text: String) -> String { percentEncoded(text) }

    // MARK: Tasks

    /// Enqueues one task; `created` is false when an idempotency key or id was known (200).
    /// With an idempotency key the call is retried safely.
    public func enqueue(_ submission: TaskSubmission, idempotencyKey: String? = nil) async throws -> EnqueueOutcome {
        let key = idempotencyKey ?? submission.idempotencyKey
        let answer = try await send(
            .POST, "/v1/tasks", body: submission.jsonBytes(), headers: key.map { [("Idempotency-Key", $0)] } ?? [],
            repeatable: key != nil)
        return EnqueueOutcome(task: try readTask(answer.body), created: answer.status == 201)
    }

    /// Enqueues all or none.
    public func enqueue(batch submissions: [TaskSubmission]) async throws -> [TaskRecord] {
        var w = JSONWriter()
        w.beginObject()
        w.key("items")
        w.beginArray()
        for submission in submissions { w.raw(RawJSON(unchecked: submission.jsonBytes())) }
        w.endArray()
        w.endObject()
        return try readTasks(try await send(.POST, "/v1/tasks/batch", body: w.bytes).body).items
    }

    public func task(id: String) async throws -> TaskRecord {
        try readTask(try await send(.GET, "/v1/tasks/\(Self.segment(id))", repeatable: true).body)
    }

    public func tasks(_ filter: TaskFilter = TaskFilter(), page: PageRequest = PageRequest()) async throws -> Page<TaskRecord> {
        let answer = try await send(
            .GET, "/v1/tasks",
            query: [
                ("queue", filter.queue), ("status", filter.status?.rawValue), ("type", filter.type), ("run_id", filter.runID),
                ("tool_name", filter.toolName), ("limit", String(page.limit)), ("cursor", page.cursor),
            ] + filter.metadata.sorted { $0.key < $1.key }.map { ("metadata", "\($0.key):\($0.value)") }, repeatable: true)
        return try readTasks(answer.body)
    }

    public func cancel(id: String) async throws -> TaskRecord {
        try readTask(try await send(.POST, "/v1/tasks/\(Self.segment(id))/cancel").body)
    }

    public func run(_ runID: String) async throws -> RunSummary {
        let body = try await send(.GET, "/v1/runs/\(Self.segment(runID))", repeatable: true).body
        return try readingWire { () throws(JSONError) in try RunSummary(json: body) }
    }

    // MARK: Dead-letter queue

    public func deadLetters(queue: String? = nil, type: String? = nil, page: PageRequest = PageRequest()) async throws -> Page<TaskRecord> {
        let answer = try await send(
            .GET, "/v1/dlq", query: [("queue", queue), ("type", type), ("limit", String(page.limit)), ("cursor", page.cursor)],
            repeatable: true)
        return try readTasks(answer.body)
    }

    public func requeueDead(id: String) async throws -> TaskRecord {
        try readTask(try await send(.POST, "/v1/dlq/\(Self.segment(id))/requeue").body)
    }

    public func requeueDead(queue: String? = nil, type: String? = nil) async throws -> Int {
        try decode(WireCount.self, try await send(.POST, "/v1/dlq/requeue", query: [("queue", queue), ("type", type)]).body).requeued ?? 0
    }

    public func deleteDead(id: String) async throws {
        _ = try await send(.DELETE, "/v1/dlq/\(Self.segment(id))", repeatable: true)
    }

    public func purgeDead(queue: String? = nil, type: String? = nil) async throws -> Int {
        try decode(WireCount.self, try await send(.DELETE, "/v1/dlq", query: [("queue", queue), ("type", type)], repeatable: true).body)
            .deleted ?? 0
    }

    // MARK: Queues

    public func queues() async throws -> [QueueInfo] {
        try decode(WireItems<WireQueue>.self, try await send(.GET, "/v1/queues", repeatable: true).body).items.map(\.info)
    }

    public func pause(queue: String) async throws -> QueueInfo {
        try decode(WireQueue.self, try await send(.POST, "/v1/queues/\(Self.segment(queue))/pause", repeatable: true).body).info
    }

    public func resume(queue: String) async throws -> QueueInfo {
        try decode(WireQueue.self, try await send(.POST, "/v1/queues/\(Self.segment(queue))/resume", repeatable: true).body).info
    }

    // MARK: Leases

    /// Leases for a worker; long-polls up to `request.wait`.
    public func lease(_ request: LeaseRequest) async throws -> [TaskLease] {
        try await lease(request, completing: [LeaseCompletion]()).leases
    }

    /// Completes `completions` and then leases, in one call: what a worker sends when it has
    /// finished tasks and free slots at once. `completions` has one answer per completion, in
    /// order, nil where it went through (as `complete(leases:)`).
    public func lease(
        _ request: LeaseRequest, completing completions: [LeaseCompletion]
    ) async throws -> (leases: [TaskLease], completions: [(any Error)?]) {
        var w = JSONWriter(capacity: 192 + 64 * completions.count)
        w.beginObject()
        w.key("worker_id"); w.string(request.workerID)
        w.key("queues")
        w.beginArray()
        for queue in request.queues { w.string(queue) }
        w.endArray()
        w.key("max_tasks"); w.int(request.maxTasks)
        if let duration = request.leaseDuration { w.key("lease_ms"); w.int(duration.wholeMilliseconds) }
        w.key("wait_ms"); w.int(request.wait.wholeMilliseconds)
        if let host = request.host { w.key("host"); w.string(host) }
        if let slots = request.slots { w.key("slots"); w.int(slots) }
        if let tools = request.tools {
            w.key("tools")
            w.beginArray()
            for tool in tools {
                w.beginObject()
                w.key("name"); w.string(tool.name)
                if !tool.description.isEmpty { w.key("description"); w.string(tool.description) }
                if let schema = tool.inputSchema { w.key("input_schema"); w.raw(schema) }
                if let lockKey = tool.lockKey { w.key("lock_key"); w.string(lockKey) }
                w.endObject()
            }
            w.endArray()
        }
        if !completions.isEmpty {
            w.key("complete")
            LeaseCompletion.write(completions, to: &w)
        }
        w.endObject()
        let answer = try await send(.POST, "/v1/leases", body: w.bytes, extraTimeout: request.wait)
        let (leases, statuses) = try Self.readLeaseAnswer(answer.body)
        guard statuses.count == completions.count else { throw SwitchboardError.malformed("a lease answer without every completion") }
        return (leases, statuses)
    }

    /// A lease answer: the leases, and one error (nil where it went through) per completion it carried.
    package static func readLeaseAnswer(_ bytes: [UInt8]) throws(SwitchboardError) -> (leases: [TaskLease], completions: [(any Error)?]) {
        let answer = try readingWire { () throws(JSONError) in try LeaseAnswer(json: bytes) }
        return (answer.leases, (answer.completed ?? []).map { status in if case .failure(let error) = outcome(status) { error } else { nil } })
    }

    /// A completion's status as its task (when the answer has it) or its problem.
    private static func outcome(_ status: CompletionStatus) -> Result<TaskRecord?, any Error> {
        switch status {
        case .completed(let task): .success(task)
        case .failed(let code, let detail):
            .failure(ProblemError(status: code, title: HTTPResponseStatus(statusCode: code).reasonPhrase, detail: detail))
        }
    }

    public func heartbeat(leaseID: String, extendBy: Duration? = nil, workerID: String? = nil) async throws -> HeartbeatStatus {
        var w = JSONWriter()
        w.beginObject()
        if let extendBy { w.key("extend_ms"); w.int(extendBy.wholeMilliseconds) }
        if let workerID { w.key("worker_id"); w.string(workerID) }
        w.endObject()
        let body = try await send(.POST, "/v1/leases/\(Self.segment(leaseID))/heartbeat", body: w.bytes, repeatable: true).body
        return try readingWire { () throws(JSONError) in try HeartbeatStatus(json: body) }
    }

    public func complete(leaseID: String, result: RawJSON?) async throws -> TaskRecord {
        var w = JSONWriter()
        w.beginObject()
        if let result { w.key("result"); w.raw(result) }
        w.endObject()
        return try readTask(try await send(.POST, "/v1/leases/\(Self.segment(leaseID))/complete", body: w.bytes).body)
    }

    /// Completes many leases in one call; each completion succeeds or fails on its own
    /// (a `ProblemError` with that item's status and detail).
    public func complete(batch completions: [LeaseCompletion]) async throws -> [Result<TaskRecord, any Error>] {
        try await completeBatch(completions, returnTasks: true).map { item in
            Result {
                guard let task = try item.get() else { throw SwitchboardError.malformed("a completed item without its task") }
                return task
            }
        }
    }

    /// As `complete(batch:)`, answered with statuses only (`return_tasks: false`): nil where a
    /// completion went through. What a worker needs, at a fraction of the bytes.
    public func complete(leases completions: [LeaseCompletion]) async throws -> [(any Error)?] {
        try await completeBatch(completions, returnTasks: false).map { item in
            if case .failure(let error) = item { error } else { nil }
        }
    }

    /// Each item's outcome: its task when the answer has one, or its problem.
    private func completeBatch(
        _ completions: [LeaseCompletion], returnTasks: Bool
    ) async throws -> [Result<TaskRecord?, any Error>] {
        var w = JSONWriter(capacity: 64 * completions.count)
        w.beginObject()
        w.key("items")
        LeaseCompletion.write(completions, to: &w)
        if !returnTasks { w.key("return_tasks"); w.bool(false) }
        w.endObject()
        let answer = try await send(.POST, "/v1/leases/complete", body: w.bytes)
        let items = try readingWire { () throws(JSONError) in
            try ItemsPage.read(answer.body) { reader throws(JSONError) in try CompletionStatus(reading: &reader) }.items
        }.map(Self.outcome)
        guard items.count == completions.count else { throw SwitchboardError.malformed("a batch answer without every item") }
        return items
    }

    /// `maxRetries` and `retryDelay` are the worker's own, when it has them: the server applies
    /// them with its policy, as it does for an in-process worker.
    public func fail(
        leaseID: String, error message: String, retryable: Bool = true, maxRetries: Int? = nil, retryDelay: Duration? = nil
    ) async throws -> TaskRecord {
        var w = JSONWriter()
        w.beginObject()
        w.key("error"); w.string(message)
        w.key("retryable"); w.bool(retryable)
        if let maxRetries { w.key("max_retries"); w.int(maxRetries) }
        if let retryDelay { w.key("retry_delay_ms"); w.int(retryDelay.wholeMilliseconds) }
        w.endObject()
        return try readTask(try await send(.POST, "/v1/leases/\(Self.segment(leaseID))/fail", body: w.bytes).body)
    }

    public func release(leaseID: String, workerID: String? = nil) async throws -> TaskRecord {
        var w = JSONWriter()
        w.beginObject()
        if let workerID { w.key("worker_id"); w.string(workerID) }
        w.endObject()
        return try readTask(try await send(.POST, "/v1/leases/\(Self.segment(leaseID))/release", body: w.bytes).body)
    }

    public func workers() async throws -> [WorkerInfo] {
        try decode(WireItems<WireWorker>.self, try await send(.GET, "/v1/workers", repeatable: true).body).items.map(\.info)
    }

    // MARK: System

    /// Whether the server answers `/healthz` (the process is up).
    public func isHealthy() async -> Bool {
        (try? await send(.GET, "/healthz")) != nil
    }

    /// Whether the server answers `/readyz` (its backend is reachable).
    public func isReady() async -> Bool {
        (try? await send(.GET, "/readyz")) != nil
    }

    /// The Prometheus exposition text of `/metrics`.
    public func metrics() async throws -> String {
        String(decoding: try await send(.GET, "/metrics", repeatable: true).body, as: UTF8.self)
    }

    // MARK: Locks

    /// The lease, or nil when the lock is still held by someone else after `wait`.
    public func acquireLock(key: String, holder: String, ttl: Duration, wait: Duration = .zero) async throws -> LockLease? {
        var w = JSONWriter()
        w.beginObject()
        w.key("holder"); w.string(holder)
        w.key("ttl_ms"); w.int(ttl.wholeMilliseconds)
        w.key("wait_ms"); w.int(wait.wholeMilliseconds)
        w.endObject()
        do {
            let answer = try await send(.POST, "/v1/locks/\(Self.segment(key))/acquire", body: w.bytes, extraTimeout: wait)
            return try readLock(answer.body)
        } catch let problem as ProblemError where problem.status == 409 {
            return nil
        }
    }

    public func renewLock(key: String, holder: String, token: UInt64, ttl: Duration) async throws -> LockLease {
        var w = JSONWriter()
        w.beginObject()
        w.key("holder"); w.string(holder)
        w.key("token"); w.int(token)
        w.key("ttl_ms"); w.int(ttl.wholeMilliseconds)
        w.endObject()
        return try readLock(try await send(.POST, "/v1/locks/\(Self.segment(key))/renew", body: w.bytes, repeatable: true).body)
    }

    public func releaseLock(key: String, holder: String, token: UInt64) async throws {
        var w = JSONWriter()
        w.beginObject()
        w.key("holder"); w.string(holder)
        w.key("token"); w.int(token)
        w.endObject()
        _ = try await send(.POST, "/v1/locks/\(Self.segment(key))/release", body: w.bytes)
    }

    /// The current lease of `key`, nil when it is free.
    public func lock(key: String) async throws -> LockLease? {
        do {
            return try readLock(try await send(.GET, "/v1/locks/\(Self.segment(key))", repeatable: true).body)
        } catch let problem as ProblemError where problem.status == 404 {
            return nil
        }
    }

    public func locks() async throws -> [LockLease] {
        let body = try await send(.GET, "/v1/locks", repeatable: true).body
        return try readingWire { () throws(JSONError) in try ItemsPage.read(body) { reader throws(JSONError) in try LockLease(reading: &reader) }.items }
    }
}
