import SwitchboardCore
import SwitchboardJSON

// A submission's JSON (`POST /v1/tasks`, a batch's items): the client writes it, the server
// reads it, `payload` verbatim both ways.

extension TaskSubmission {
    /// The members a submission may have.
    public static let fields: Set<String> = [
        "id", "queue", "type", "run_id", "priority", "metadata", "payload", "max_retries", "timeout_ms", "lock_key",
        "not_before", "delay_ms", "idempotency_key",
    ]

    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 128 + payload.bytes.count)
        w.beginObject()
        if let id { w.key("id"); w.string(id) }
        if let queue { w.key("queue"); w.string(queue) }
        if let type { w.key("type"); w.string(type) }
        if let runID { w.key("run_id"); w.string(runID) }
        if let priority { w.key("priority"); w.int(priority) }
        if let metadata { w.key("metadata"); w.stringMap(metadata) }
        w.key("payload"); w.raw(payload)
        if let maxRetries { w.key("max_retries"); w.int(maxRetries) }
        if let timeoutMS { w.key("timeout_ms"); w.int(timeoutMS) }
        if let lockKey { w.key("lock_key"); w.string(lockKey) }
        if let notBefore { w.key("not_before"); w.timestamp(notBefore) }
        if let delayMS { w.key("delay_ms"); w.int(delayMS) }
        if let idempotencyKey { w.key("idempotency_key"); w.string(idempotencyKey) }
        w.endObject()
        return w.bytes
    }

    /// Parses one submission object from JSON bytes, keeping `payload` verbatim. Type errors
    /// name the field; range and pattern rules are the engine's.
    public init(json bytes: [UInt8], limits: TaskLimits = TaskLimits()) throws(SwitchboardError) {
        try self.init(readingWire { () throws(JSONError) in try JSONObjectReader(bytes, maxDepth: limits.maxJSONDepth) })
    }

    /// Parses from an object already scanned (a batch's items share one scan).
    public init(_ object: JSONObjectReader) throws(SwitchboardError) {
        self = try readingWire { () throws(JSONError) in try Self.read(object) }
    }

    private static func read(_ object: JSONObjectReader) throws(JSONError) -> TaskSubmission {
        try object.rejectUnknown(allowed: fields)
        guard let payload = object.raw("payload") else { throw .shape("\(object.path)payload is required") }
        var s = TaskSubmission(payload: payload)
        s.id = try object.string("id")
        s.queue = try object.string("queue")
        s.type = try object.string("type")
        s.runID = try object.string("run_id")
        s.priority = try object.integer("priority").map { Int(clamping: $0) }
        s.metadata = try object.stringMap("metadata")
        s.maxRetries = try object.integer("max_retries").map { Int(clamping: $0) }
        s.timeoutMS = try object.integer("timeout_ms")
        s.lockKey = try object.string("lock_key")
        s.delayMS = try object.integer("delay_ms")
        s.idempotencyKey = try object.string("idempotency_key")
        if let text = try object.string("not_before") {
            guard let time = Timestamp(rfc3339: text) else {
                throw .shape("\(object.path)not_before must be an RFC 3339 date-time, e.g. 2026-11-27T10:00:00.000Z")
            }
            s.notBefore = time
        }
        return s
    }
}
