/// What a client asks to enqueue, before defaults and validation (`POST /v1/tasks`).
public struct TaskSubmission: Sendable, Hashable {
    public var id: String?
    public var queue: String?
    public var type: String?
    public var runID: String?
    public var priority: Int?
    public var metadata: [String: String]?
    public var payload: RawJSON
    public var maxRetries: Int?
    public var timeoutMS: Int64?
    public var lockKey: String?
    public var notBefore: Timestamp?
    public var delayMS: Int64?
    /// From the `Idempotency-Key` header: a repeated submission returns the first task.
    public var idempotencyKey: String?

    public init(
        id: String? = nil, queue: String? = nil, type: String? = nil, runID: String? = nil, priority: Int? = nil,
        metadata: [String: String]? = nil, payload: RawJSON, maxRetries: Int? = nil, timeoutMS: Int64? = nil,
        lockKey: String? = nil, notBefore: Timestamp? = nil, delayMS: Int64? = nil, idempotencyKey: String? = nil
    ) {
        self.id = id
        self.queue = queue
        self.type = type
        self.runID = runID
        self.priority = priority
        self.metadata = metadata
        self.payload = payload
        self.maxRetries = maxRetries
        self.timeoutMS = timeoutMS
        self.lockKey = lockKey
        self.notBefore = notBefore
        self.delayMS = delayMS
        self.idempotencyKey = idempotencyKey
    }

    /// A tool call: `{"tool_name", "input", "reason"}` as the payload of a `tool_call` task.
    public static func toolCall(
        _ toolName: String, input: RawJSON = .emptyObject, reason: String? = nil, queue: String? = nil
    ) -> TaskSubmission {
        var w = JSONWriter()
        w.beginObject()
        w.key("tool_name"); w.string(toolName)
        w.key("input"); w.raw(input)
        if let reason {
            w.key("reason"); w.string(reason)
        }
        w.endObject()
        return TaskSubmission(queue: queue, type: "tool_call", payload: RawJSON(unchecked: w.bytes))
    }
}

// MARK: - Parsing a request body

extension TaskSubmission {
    static let fields: Set<String> = [
        "id", "queue", "type", "run_id", "priority", "metadata", "payload", "max_retries", "timeout_ms", "lock_key",
        "not_before", "delay_ms", "idempotency_key",
    ]

    /// Parses one submission object from JSON bytes, keeping `payload` verbatim. Type errors
    /// name the field; range and pattern rules are the engine's.
    public init(json bytes: [UInt8], limits: TaskLimits = TaskLimits()) throws(SwitchboardError) {
        try self.init(JSONObjectReader(bytes, maxDepth: limits.maxJSONDepth))
    }

    /// Parses from an object already scanned (a batch's items share one scan).
    public init(_ object: JSONObjectReader) throws(SwitchboardError) {
        try object.rejectUnknown(allowed: Self.fields)
        guard let payload = object.raw("payload") else { throw .invalid("\(object.path)payload is required") }
        self.init(payload: payload)
        id = try object.string("id")
        queue = try object.string("queue")
        type = try object.string("type")
        runID = try object.string("run_id")
        priority = try object.integer("priority").map { Int(clamping: $0) }
        metadata = try object.stringMap("metadata")
        maxRetries = try object.integer("max_retries").map { Int(clamping: $0) }
        timeoutMS = try object.integer("timeout_ms")
        lockKey = try object.string("lock_key")
        delayMS = try object.integer("delay_ms")
        idempotencyKey = try object.string("idempotency_key")
        if let text = try object.string("not_before") {
            guard let time = Timestamp(rfc3339: text) else {
                throw .invalid("\(object.path)not_before must be an RFC 3339 date-time, e.g. 2026-11-27T10:00:00.000Z")
            }
            notBefore = time
        }
    }
}
