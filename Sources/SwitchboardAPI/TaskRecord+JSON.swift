import SwitchboardCore
import SwitchboardJSON

// The task's JSON (DESIGN.md §2), written and read field by field from `TaskField`: `payload`
// and `result` go out and come back as the bytes they are, never as a tree.

extension TaskRecord {
    /// Straight-line, in `TaskField`'s order with its names (a loop over the fields with a
    /// switch per field costs a third more per task: BENCHMARKS.md); `TaskShapeTests` holds the
    /// keys written to `TaskField`.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key(TaskField.id.name); w.string(id)
        w.key(TaskField.queue.name); w.string(queue)
        w.key(TaskField.type.name); w.string(type)
        w.key(TaskField.runID.name); w.string(runID)
        w.key(TaskField.priority.name); w.int(priority)
        w.key(TaskField.metadata.name); w.stringMap(metadata)
        w.key(TaskField.payload.name); w.raw(payload)
        w.key(TaskField.status.name); w.string(status.rawValue)
        w.key(TaskField.attempts.name); w.int(attempts)
        w.key(TaskField.releases.name); w.int(releases)
        w.key(TaskField.maxRetries.name); w.int(maxRetries)
        w.key(TaskField.timeoutMS.name); w.int(timeoutMS)
        w.key(TaskField.lockKey.name); w.string(lockKey)
        w.key(TaskField.notBefore.name); w.timestamp(notBefore)
        w.key(TaskField.createdAt.name); w.timestamp(createdAt)
        w.key(TaskField.updatedAt.name); w.timestamp(updatedAt)
        w.key(TaskField.startedAt.name); w.timestamp(startedAt)
        w.key(TaskField.finishedAt.name); w.timestamp(finishedAt)
        w.key(TaskField.workerID.name); w.string(workerID)
        w.key(TaskField.leaseExpiresAt.name); w.timestamp(leaseExpiresAt)
        w.key(TaskField.result.name); w.raw(result)
        w.key(TaskField.error.name); w.string(error)
        w.key(TaskField.errors.name)
        w.beginArray()
        for entry in errors { entry.write(to: &w) }
        w.endArray()
        w.endObject()
    }

    public func jsonBytes() -> [UInt8] {
        var writer = JSONWriter(capacity: 512 + payload.bytes.count + (result?.bytes.count ?? 0))
        write(to: &writer)
        return writer.bytes
    }

    /// A document that is one task.
    public init(json bytes: [UInt8]) throws(JSONError) {
        var reader = JSONPullReader(bytes)
        try self.init(reading: &reader)
        try reader.end()
    }

    /// The task object the reader stands on, in one pass. Unknown fields are skipped, so a
    /// newer server's additions do not break an older client; keys are looked for in field
    /// order first, which is how our server writes them.
    public init(reading reader: inout JSONPullReader) throws(JSONError) {
        var id, queue, type, statusName: String?
        var runID, lockKey, workerID, error: String?
        var priority, attempts, releases, maxRetries, timeoutMS: Int64?
        var metadata: [String: String]?
        var payload, result: RawJSON?
        var notBefore, createdAt, updatedAt, startedAt, finishedAt, leaseExpiresAt: Timestamp?
        var errors: [TaskErrorEntry] = []
        var next = 0
        let names = TaskField.names
        try reader.beginObject()
        while let key = try reader.nextKey() {
            guard let index = reader.index(of: key, in: names, hint: next), let field = TaskField(rawValue: index) else {
                try reader.skipValue()
                continue
            }
            next = index + 1
            switch field {
            case .id: id = try reader.string()
            case .queue: queue = try reader.string()
            case .type: type = try reader.string()
            case .runID: runID = try reader.string()
            case .priority: priority = try reader.integer()
            case .metadata: metadata = try reader.stringMap()
            case .payload: payload = try reader.raw()
            case .status: statusName = try reader.string()
            case .attempts: attempts = try reader.integer()
            case .releases: releases = try reader.integer()
            case .maxRetries: maxRetries = try reader.integer()
            case .timeoutMS: timeoutMS = try reader.integer()
            case .lockKey: lockKey = try reader.string()
            case .notBefore: notBefore = try reader.timestamp()
            case .createdAt: createdAt = try reader.timestamp()
            case .updatedAt: updatedAt = try reader.timestamp()
            case .startedAt: startedAt = try reader.timestamp()
            case .finishedAt: finishedAt = try reader.timestamp()
            case .workerID: workerID = try reader.string()
            case .leaseExpiresAt: leaseExpiresAt = try reader.timestamp()
            case .result: result = try reader.raw()
            case .error: error = try reader.string()
            case .errors: errors = try TaskErrorEntry.readList(&reader)
            }
        }
        func need<T>(_ value: T?, _ field: TaskField) throws(JSONError) -> T {
            guard let value else { throw .shape("a task without \(field.name)") }
            return value
        }
        let name = try need(statusName, .status)
        guard let status = TaskStatus(rawValue: name) else { throw .shape("unknown status \(name)") }
        self.init(
            id: try need(id, .id), queue: try need(queue, .queue), type: try need(type, .type), runID: runID,
            priority: UInt8(clamping: priority ?? 0), metadata: metadata ?? [:], payload: try need(payload, .payload), status: status,
            attempts: Int(attempts ?? 0), releases: Int(releases ?? 0), maxRetries: Int(maxRetries ?? 0), timeoutMS: timeoutMS ?? 0, lockKey: lockKey,
            notBefore: notBefore, createdAt: try need(createdAt, .createdAt), updatedAt: try need(updatedAt, .updatedAt),
            startedAt: startedAt, finishedAt: finishedAt, workerID: workerID, leaseExpiresAt: leaseExpiresAt,
            result: result.flatMap { $0.isNull ? nil : $0 }, error: error, errors: errors)
    }
}

extension TaskErrorEntry {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key(TaskErrorField.attempt.name); w.int(attempt)
        w.key(TaskErrorField.at.name); w.timestamp(at)
        w.key(TaskErrorField.message.name); w.string(message)
        w.key(TaskErrorField.workerID.name); w.string(workerID)
        w.key(TaskErrorField.startedAt.name); w.timestamp(startedAt)
        w.endObject()
    }

    static func readList(_ reader: inout JSONPullReader) throws(JSONError) -> [TaskErrorEntry] {
        guard !reader.isNull else {
            try reader.skipValue()
            return []
        }
        var entries: [TaskErrorEntry] = []
        try reader.beginArray()
        while try reader.nextElement() {
            var attempt: Int64?
            var at: Timestamp?
            var message, workerID: String?
            var startedAt: Timestamp?
            try reader.beginObject()
            while let key = try reader.nextKey() {
                guard let index = reader.index(of: key, in: TaskErrorField.names, hint: 0), let field = TaskErrorField(rawValue: index) else {
                    try reader.skipValue()
                    continue
                }
                switch field {
                case .attempt: attempt = try reader.integer()
                case .at: at = try reader.timestamp()
                case .message: message = try reader.string()
                case .workerID: workerID = try reader.string()
                case .startedAt: startedAt = try reader.timestamp()
                }
            }
            guard let at else { throw .shape("a task without errors[].at") }
            entries.append(TaskErrorEntry(attempt: Int(attempt ?? 0), at: at, message: message ?? "", workerID: workerID, startedAt: startedAt))
        }
        return entries
    }
}
