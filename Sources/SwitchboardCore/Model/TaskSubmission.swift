import SwitchboardJSON

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
