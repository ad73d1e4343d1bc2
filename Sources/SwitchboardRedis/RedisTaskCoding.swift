import NIOCore
import SwitchboardCore
import SwitchboardJSON
import SwitchboardRESP

/// A task's hash fields (see `RedisTaskScripts`) to and from `TaskRecord`.
enum RedisTaskCoding {
    /// The whole hash of a new task, `scheduled` with its due time or `pending` (literal names,
    /// `Field.hashName`'s, as the Lua scripts spell them too: no string is built per field).
    static func fields(of record: TaskRecord, scheduled: Bool) -> [any RESPArgument] {
        var fields: [any RESPArgument] = [
            "id", record.id, "q", record.queue, "ty", record.type, "pri", Int(record.priority),
            "pl", record.payload.bytes, "mr", record.maxRetries, "to", record.timeoutMS,
            "ca", record.createdAt.milliseconds, "st", scheduled ? "scheduled" : "pending",
        ]
        if scheduled, let due = record.notBefore { fields += ["due", due.milliseconds] }
        if !record.metadata.isEmpty {
            var writer = JSONWriter(capacity: 64)
            writer.stringMap(record.metadata)
            fields += ["md", writer.bytes]
        }
        if let run = record.runID { fields += ["run", run] }
        if let key = record.lockKey { fields += ["lk", key] }
        if let notBefore = record.notBefore { fields += ["nb", notBefore.milliseconds] }
        return fields
    }

    /// A task from HGETALL's flat field/value list, with when it last became ready.
    static func record(_ reply: RESPValue) throws -> (record: TaskRecord, readySince: Timestamp) {
        guard let values = reply.array, values.count % 2 == 0, !values.isEmpty else {
            throw RedisTaskBackendError.malformedTask("not a task hash")
        }
        var record = TaskRecord(
            id: "", queue: "", type: "", payload: .null, status: .pending, maxRetries: 0, timeoutMS: 0,
            createdAt: Timestamp(milliseconds: 0), updatedAt: Timestamp(milliseconds: 0))
        var readySince: Timestamp?
        var errorLines: ByteBuffer?
        var sawUpdatedAt = false
        var index = 0
        while index < values.count {
            guard case .bulkString(let nameBuffer) = values[index], case .bulkString(let value) = values[index + 1] else {
                throw RedisTaskBackendError.malformedTask("field \(index / 2) is not a string")
            }
            index += 2
            let text = { String(buffer: value) }
            let time = { Timestamp(milliseconds: Self.integer(value) ?? 0) }
            switch Field(nameBuffer) {
            case .task(let field):
                switch field {
                case .id: record.id = text()
                case .queue: record.queue = text()
                case .type: record.type = text()
                case .runID: record.runID = text()
                case .priority: record.priority = UInt8(text()) ?? 0
                case .metadata: record.metadata = metadata(bytes(value))
                case .payload: record.payload = RawJSON(unchecked: bytes(value))
                case .status:
                    guard let status = TaskStatus(rawValue: text()) else { throw RedisTaskBackendError.malformedTask("status \(text())") }
                    record.status = status
                case .attempts: record.attempts = Int(text()) ?? 0
                case .releases: record.releases = Int(text()) ?? 0
                case .maxRetries: record.maxRetries = Int(text()) ?? 0
                case .timeoutMS: record.timeoutMS = Int64(text()) ?? 0
                case .lockKey: record.lockKey = text()
                case .notBefore: record.notBefore = time()
                case .createdAt: record.createdAt = time()
                case .updatedAt:
                    record.updatedAt = time()
                    sawUpdatedAt = true
                case .startedAt: record.startedAt = time()
                case .finishedAt: record.finishedAt = time()
                case .workerID: record.workerID = text()
                case .leaseExpiresAt: record.leaseExpiresAt = time()
                case .result: record.result = RawJSON(unchecked: bytes(value))
                case .error: record.error = text()
                case .errors: errorLines = value
                }
            case .readySince: readySince = time()
            case nil: break
            }
        }
        if let errorLines { record.errors = try errors(errorLines) }
        if !sawUpdatedAt { record.updatedAt = record.createdAt }
        if record.status != .running { record.leaseExpiresAt = nil }
        return (record, readySince ?? record.createdAt)
    }

    /// A decimal integer straight from the bytes, without making a String.
    private static func integer(_ buffer: ByteBuffer) -> Int64? {
        var value: Int64 = 0
        var negative = false
        var digits = 0
        for byte in buffer.readableBytesView {
            if byte == UInt8(ascii: "-"), digits == 0, !negative { negative = true; continue }
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            let (scaled, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = scaled.addingReportingOverflow(Int64(byte - 0x30))
            guard !o1, !o2 else { return nil }
            value = sum
            digits += 1
        }
        guard digits > 0 else { return nil }
        return negative ? -value : value
    }

    /// A task's hash field: one of the task's own (`TaskField`, the one list of them, under
    /// the short names the scripts use), or when it last became ready.
    enum Field {
        case task(TaskField)
        case readySince

        /// The short name in the hash. Switching over `TaskField` makes a field added there a
        /// compile error here until it has a name.
        static func hashName(_ field: TaskField) -> StaticString {
            switch field {
            case .id: "id"
            case .queue: "q"
            case .type: "ty"
            case .runID: "run"
            case .priority: "pri"
            case .metadata: "md"
            case .payload: "pl"
            case .status: "st"
            case .attempts: "at"
            case .releases: "rl"
            case .maxRetries: "mr"
            case .timeoutMS: "to"
            case .lockKey: "lk"
            case .notBefore: "nb"
            case .createdAt: "ca"
            case .updatedAt: "ua"
            case .startedAt: "sa"
            case .finishedAt: "fa"
            case .workerID: "w"
            case .leaseExpiresAt: "le"
            case .result: "res"
            case .error: "err"
            case .errors: "errs"
            }
        }

        /// Read from the name's bytes (a string switch would compare up to twenty strings per field).
        init?(_ name: ByteBuffer) {
            guard name.readableBytes <= 4 else { return nil }
            var packed: UInt32 = 0
            for byte in name.readableBytesView { packed = packed << 8 | UInt32(byte) }
            guard let field = Self.byPackedName[packed] else { return nil }
            self = field
        }

        private static let byPackedName: [UInt32: Field] = {
            var names = [pack("rs"): Field.readySince]
            for field in TaskField.allCases { names[pack(hashName(field))] = .task(field) }
            return names
        }()

        private static func pack(_ name: StaticString) -> UInt32 {
            precondition(name.utf8CodeUnitCount <= 4, "hash field names fit in four bytes")
            var packed: UInt32 = 0
            name.withUTF8Buffer { for byte in $0 { packed = packed << 8 | UInt32(byte) } }
            return packed
        }
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
                workerID: try entry.string("worker_id"),
                startedAt: try entry.integer("started_ms").map { Timestamp(milliseconds: $0) })
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
