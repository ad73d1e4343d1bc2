import NIOCore
import SwitchboardCore
import SwitchboardRESP

/// A task's hash fields (see `RedisTaskScripts`) to and from `TaskRecord`.
enum RedisTaskCoding {
    /// The fields an enqueue writes as given; the script adds status, attempts and bookkeeping.
    static func fields(of record: TaskRecord) -> [any RESPArgument] {
        var fields: [any RESPArgument] = [
            "id", record.id, "q", record.queue, "ty", record.type, "pri", Int(record.priority),
            "pl", record.payload.bytes, "mr", record.maxRetries, "to", record.timeoutMS,
            "ca", record.createdAt.milliseconds,
        ]
        if !record.metadata.isEmpty {
            var writer = JSONWriter(capacity: 64)
            writer.beginObject()
            for key in record.metadata.keys.sorted() {
                writer.key(key)
                writer.string(record.metadata[key]!)
            }
            writer.endObject()
            fields += ["md", writer.bytes]
        }
        if let run = record.runID { fields += ["run", run] }
        if let key = record.lockKey { fields += ["lk", key] }
        if let notBefore = record.notBefore { fields += ["nb", notBefore.milliseconds] }
        return fields
    }

    /// A task from HGETALL's flat field/value list, with when it last became ready.
    static func record(_ reply: RESPValue) throws -> (record: TaskRecord, readySince: Timestamp?) {
        guard let values = reply.array, values.count % 2 == 0, !values.isEmpty else {
            throw RedisTaskBackendError.malformedTask("not a task hash")
        }
        var record = TaskRecord(
            id: "", queue: "", type: "", payload: .null, status: .pending, maxRetries: 0, timeoutMS: 0,
            createdAt: Timestamp(milliseconds: 0), updatedAt: Timestamp(milliseconds: 0))
        var readySince: Timestamp?
        var errorLines: ByteBuffer?
        var index = 0
        while index < values.count {
            guard case .bulkString(let nameBuffer) = values[index], case .bulkString(let value) = values[index + 1] else {
                throw RedisTaskBackendError.malformedTask("field \(index / 2) is not a string")
            }
            index += 2
            let text = { String(buffer: value) }
            let time = { Timestamp(milliseconds: Int64(String(buffer: value)) ?? 0) }
            switch String(buffer: nameBuffer) {
            case "id": record.id = text()
            case "q": record.queue = text()
            case "ty": record.type = text()
            case "run": record.runID = text()
            case "pri": record.priority = UInt8(text()) ?? 0
            case "md": record.metadata = metadata(bytes(value))
            case "pl": record.payload = RawJSON(unchecked: bytes(value))
            case "st":
                guard let status = TaskStatus(rawValue: text()) else { throw RedisTaskBackendError.malformedTask("status \(text())") }
                record.status = status
            case "at": record.attempts = Int(text()) ?? 0
            case "mr": record.maxRetries = Int(text()) ?? 0
            case "to": record.timeoutMS = Int64(text()) ?? 0
            case "lk": record.lockKey = text()
            case "nb": record.notBefore = time()
            case "ca": record.createdAt = time()
            case "ua": record.updatedAt = time()
            case "sa": record.startedAt = time()
            case "fa": record.finishedAt = time()
            case "w": record.workerID = text()
            case "le": record.leaseExpiresAt = time()
            case "res": record.result = RawJSON(unchecked: bytes(value))
            case "err": record.error = text()
            case "errs": errorLines = value
            case "rs": readySince = time()
            default: break
            }
        }
        if let errorLines { record.errors = try errors(errorLines) }
        return (record, readySince)
    }

    private static func bytes(_ buffer: ByteBuffer) -> [UInt8] {
        Array(buffer.readableBytesView)
    }

    private static func metadata(_ bytes: [UInt8]) -> [String: String] {
        guard let members = try? JSONScanner.members(ofObject: bytes) else { return [:] }
        var map: [String: String] = [:]
        for member in members where member.kind == .string {
            map[member.key] = JSONScanner.string(in: bytes, range: member.range)
        }
        return map
    }

    /// The error history: one JSON object per line, written by the scripts.
    private static func errors(_ buffer: ByteBuffer) throws -> [TaskErrorEntry] {
        try buffer.readableBytesView.split(separator: UInt8(ascii: "\n")).map { line in
            let entry = try JSONObjectReader(Array(line))
            return TaskErrorEntry(
                attempt: Int(try entry.integer("attempt") ?? 0),
                at: Timestamp(milliseconds: try entry.integer("at_ms") ?? 0),
                message: try entry.string("message") ?? "",
                workerID: try entry.string("worker_id"))
        }
    }
}

enum RedisTaskBackendError: Error, CustomStringConvertible {
    case malformedTask(String)
    case unexpectedReply(String)

    var description: String {
        switch self {
        case .malformedTask(let detail): "a task hash in Redis is not what this server wrote: \(detail)"
        case .unexpectedReply(let script): "unexpected reply from the \(script) script"
        }
    }
}
