import SwitchboardCore
import SwitchboardJSON

// The task's JSON (DESIGN.md §2), written and read field by field from `TaskField`: `payload`
// and `result` go out and come back as the bytes they are, never as a tree.

extension TaskRecord {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        for field in TaskField.allCases {
            w.key(field.name)
            switch field {
            case .id: w.string(id)
            case .queue: w.string(queue)
            case .type: w.string(type)
            case .runID: w.string(runID)
            case .priority: w.int(priority)
            case .metadata: w.stringMap(metadata)
            case .payload: w.raw(payload)
            case .status: w.string(status.rawValue)
            case .attempts: w.int(attempts)
            case .maxRetries: w.int(maxRetries)
            case .timeoutMS: w.int(timeoutMS)
            case .lockKey: w.string(lockKey)
            case .notBefore: w.timestamp(notBefore)
            case .createdAt: w.timestamp(createdAt)
            case .updatedAt: w.timestamp(updatedAt)
            case .startedAt: w.timestamp(startedAt)
            case .finishedAt: w.timestamp(finishedAt)
            case .workerID: w.string(workerID)
            case .leaseExpiresAt: w.timestamp(leaseExpiresAt)
            case .result: w.raw(result)
            case .error: w.string(error)
            case .errors:
                w.beginArray()
                for entry in errors { entry.write(to: &w) }
                w.endArray()
            }
        }
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
        var priority, attempts, maxRetries, timeoutMS: Int64?
        var metadata: [String: String]?
        var payload, result: RawJSON?
        var notBefore, createdAt, updatedAt, startedAt, finishedAt, leaseExpiresAt: Timestamp?
        var errors: [TaskErrorEntry] = []
        var next = 0
        try reader.beginObject()
        while let key = try reader.nextKey() {
            guard let index = reader.index(of: key, in: TaskField.names, hint: next), let field = TaskField(rawValue: index) else {
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
            attempts: Int(attempts ?? 0), maxRetries: Int(maxRetries ?? 0), timeoutMS: timeoutMS ?? 0, lockKey: lockKey,
            notBefore: notBefore, createdAt: try need(createdAt, .createdAt), updatedAt: try need(updatedAt, .updatedAt),
            startedAt: startedAt, finishedAt: finishedAt, workerID: workerID, leaseExpiresAt: leaseExpiresAt,
            result: result.flatMap { $0.isNull ? nil : $0 }, error: error, errors: errors)
    }
}

extension TaskErrorEntry {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        for field in TaskErrorField.allCases {
            w.key(field.name)
            switch field {
            case .attempt: w.int(attempt)
            case .at: w.timestamp(at)
            case .message: w.string(message)
            case .workerID: w.string(workerID)
            }
        }
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
                }
            }
            guard let at else { throw .shape("a task without errors[].at") }
            entries.append(TaskErrorEntry(attempt: Int(attempt ?? 0), at: at, message: message ?? "", workerID: workerID))
        }
        return entries
    }
}
