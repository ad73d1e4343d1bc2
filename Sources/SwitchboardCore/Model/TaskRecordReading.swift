/// Reading a task back from the API's JSON (clients), without a generic tree: `payload` and
/// `result` keep the bytes the server sent.
extension TaskRecord {
    public init(json object: JSONObjectReader) throws(SwitchboardError) {
        func need<T>(_ value: T?, _ field: String) throws(SwitchboardError) -> T {
            guard let value else { throw .malformed("a task without \(field)") }
            return value
        }
        func time(_ field: String) throws(SwitchboardError) -> Timestamp? {
            guard let text = try object.string(field) else { return nil }
            guard let value = Timestamp(rfc3339: text) else { throw .malformed("\(field) is not an RFC 3339 time: \(text)") }
            return value
        }
        let statusName = try need(try object.string("status"), "status")
        guard let status = TaskStatus(rawValue: statusName) else { throw .malformed("unknown status \(statusName)") }
        var errors: [TaskErrorEntry] = []
        for entry in try object.objects("errors") ?? [] {
            errors.append(
                TaskErrorEntry(
                    attempt: Int(try entry.integer("attempt") ?? 0), at: try need(Timestamp(rfc3339: try entry.string("at") ?? ""), "errors[].at"),
                    message: try entry.string("message") ?? "", workerID: try entry.string("worker_id")))
        }
        let result = object.raw("result")
        self.init(
            id: try need(try object.string("id"), "id"), queue: try need(try object.string("queue"), "queue"),
            type: try need(try object.string("type"), "type"), runID: try object.string("run_id"),
            priority: UInt8(clamping: try object.integer("priority") ?? 0), metadata: try object.stringMap("metadata") ?? [:],
            payload: try need(object.raw("payload"), "payload"), status: status, attempts: Int(try object.integer("attempts") ?? 0),
            maxRetries: Int(try object.integer("max_retries") ?? 0), timeoutMS: try object.integer("timeout_ms") ?? 0,
            lockKey: try object.string("lock_key"), notBefore: try time("not_before"),
            createdAt: try need(try time("created_at"), "created_at"), updatedAt: try need(try time("updated_at"), "updated_at"),
            startedAt: try time("started_at"), finishedAt: try time("finished_at"), workerID: try object.string("worker_id"),
            leaseExpiresAt: try time("lease_expires_at"), result: result.flatMap { $0.isNull ? nil : $0 },
            error: try object.string("error"), errors: errors)
    }
}
