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
    /// Parses one submission object from JSON bytes, keeping `payload` verbatim. Type errors
    /// name the field; range and pattern rules are the engine's (`TaskValidator`).
    public init(json bytes: [UInt8], limits: TaskLimits = TaskLimits()) throws(SwitchboardError) {
        let members: [JSONMember]
        do {
            members = try JSONScanner.members(ofObject: bytes, maxDepth: limits.maxJSONDepth)
        } catch {
            throw .malformed(error.description)
        }
        try self.init(members: members, in: bytes)
    }

    /// Parses from members already scanned (a batch's items share one scan).
    init(members: [JSONMember], in bytes: [UInt8]) throws(SwitchboardError) {
        let fields = JSONFields(bytes: bytes)
        var payload: RawJSON?
        self.init(payload: .null)
        for member in members {
            switch member.key {
            case "id": id = try fields.string(member)
            case "queue": queue = try fields.string(member)
            case "type": type = try fields.string(member)
            case "run_id": runID = try fields.string(member)
            case "priority": priority = try fields.integer(member).map { Int(clamping: $0) }
            case "metadata": metadata = try fields.stringMap(member)
            case "payload": payload = RawJSON(unchecked: Array(bytes[member.range]))
            case "max_retries": maxRetries = try fields.integer(member).map { Int(clamping: $0) }
            case "timeout_ms": timeoutMS = try fields.integer(member)
            case "lock_key": lockKey = try fields.string(member)
            case "delay_ms": delayMS = try fields.integer(member)
            case "not_before":
                if let text = try fields.string(member) {
                    guard let time = Timestamp(rfc3339: text) else {
                        throw .invalid("not_before must be an RFC 3339 date-time, e.g. 2026-11-27T10:00:00.000Z")
                    }
                    notBefore = time
                }
            case "idempotency_key": idempotencyKey = try fields.string(member)
            default:
                throw .invalid("unknown field '\(member.key)'")
            }
        }
        guard let payload else { throw .invalid("payload is required") }
        self.payload = payload
    }
}

/// Typed reads of scanned members, with errors that name the field.
struct JSONFields {
    let bytes: [UInt8]

    func string(_ member: JSONMember) throws(SwitchboardError) -> String? {
        switch member.kind {
        case .null: return nil
        case .string: return JSONScanner.string(in: bytes, range: member.range)
        default: throw .invalid("\(member.key) must be a string")
        }
    }

    func integer(_ member: JSONMember) throws(SwitchboardError) -> Int64? {
        switch member.kind {
        case .null: return nil
        case .number:
            guard let value = RawJSON(unchecked: Array(bytes[member.range])).integerValue else {
                throw .invalid("\(member.key) must be a whole number")
            }
            return value
        default: throw .invalid("\(member.key) must be a number")
        }
    }

    func bool(_ member: JSONMember) throws(SwitchboardError) -> Bool? {
        switch member.kind {
        case .null: return nil
        case .bool: return bytes[member.range.lowerBound] == UInt8(ascii: "t")
        default: throw .invalid("\(member.key) must be true or false")
        }
    }

    func stringMap(_ member: JSONMember) throws(SwitchboardError) -> [String: String]? {
        switch member.kind {
        case .null: return nil
        case .object:
            let inner = Array(bytes[member.range])
            guard let members = try? JSONScanner.members(ofObject: inner) else { return [:] }
            var map: [String: String] = [:]
            for m in members {
                guard m.kind == .string else { throw .invalid("\(member.key).\(m.key) must be a string") }
                map[m.key] = JSONScanner.string(in: inner, range: m.range)
            }
            return map
        default: throw .invalid("\(member.key) must be an object of strings")
        }
    }
}
