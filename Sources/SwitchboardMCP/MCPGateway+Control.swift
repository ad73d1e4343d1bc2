import Foundation
import MCP
import SwitchboardAPI
import SwitchboardAuth
import SwitchboardCore
import SwitchboardJSON

/// The control plane as MCP tools: the REST API's main calls, with the same checks (the engine
/// validates; queue-limited tokens reach their queues only).
extension MCPGateway {
    static let controlTools: [ControlTool] = [
        ControlTool(
            tool: tool("enqueue_task", "Enqueues a task (the body of POST /v1/tasks: queue, type, payload, run_id, priority, metadata, lock_key, max_retries, timeout_ms, delay_ms, idempotency_key); returns it.",
                ["payload": any("The task's payload; for a tool_call: {tool_name, input, reason}.")], required: ["payload"], open: true),
            scopes: [.producer]
        ) { gateway, arguments, principal in
            let object = try JSONObjectReader(Array(try JSONEncoder().encode(Value.object(arguments))))
            let submission = try TaskSubmission(object)
            try principal.authorize(queue: submission.queue ?? gateway.engine.configuration.defaultQueue)
            return json(try await gateway.engine.enqueue(submission).task.jsonBytes())
        },
        ControlTool(tool: tool("get_task", "A task with its status, attempts, result and error history.", ["id": string("The task's id.")], required: ["id"]), scopes: [.viewer, .producer, .operator]) {
            gateway, arguments, principal in
            let task = try await gateway.engine.task(id: try text(arguments, "id"))
            try principal.authorize(queue: task.queue)
            return json(task.jsonBytes())
        },
        ControlTool(
            tool: tool("wait_for_task", "Waits up to wait_ms (at most 60000, default 30000) for a task to finish (completed, dead or cancelled); returns it as it is then.",
                ["id": string("The task's id."), "wait_ms": integer("How long to wait.", maximum: 60_000)], required: ["id"]),
            scopes: [.viewer, .producer, .operator]
        ) { gateway, arguments, principal in
            let id = try text(arguments, "id")
            try principal.authorize(queue: try await gateway.engine.task(id: id).queue)
            let wait = try number(arguments, "wait_ms") ?? 30_000
            guard (0...60_000).contains(wait) else { throw SwitchboardError.invalid("wait_ms must be between 0 and 60000") }
            return json(try await gateway.engine.waitUntilFinished(id: id, timeout: .milliseconds(wait)).jsonBytes())
        },
        ControlTool(
            tool: tool("list_tasks", "Lists tasks in creation order, filtered (queue, status, type, run_id, tool_name), a page at a time (limit, cursor).",
                ["queue": string(nil), "status": string(nil), "type": string(nil), "run_id": string(nil), "tool_name": string(nil), "limit": integer(nil, maximum: 1000), "cursor": string(nil)]),
            scopes: [.viewer, .producer, .operator]
        ) { gateway, arguments, principal in
            var queue = try optionalText(arguments, "queue")
            if let only = principal.queues, queue == nil {
                guard only.count == 1 else { throw SwitchboardError.invalid("name a queue: this token reaches several") }
                queue = only.first
            }
            if let queue { try principal.authorize(queue: queue) }
            let status = try optionalText(arguments, "status").map { text in
                guard let status = TaskStatus(rawValue: text) else { throw SwitchboardError.invalid("status must be one of \(TaskStatus.allCases.map(\.rawValue).joined(separator: ", "))") }
                return status
            }
            let filter = TaskFilter(
                queue: queue, status: status, type: try optionalText(arguments, "type"), runID: try optionalText(arguments, "run_id"),
                toolName: try optionalText(arguments, "tool_name"))
            let page = try await gateway.engine.list(filter, page: PageRequest(limit: try number(arguments, "limit") ?? 100, cursor: try optionalText(arguments, "cursor")))
            return pageResult(page)
        },
        ControlTool(tool: tool("cancel_task", "Cancels a task (a running one is asked to stop).", ["id": string("The task's id.")], required: ["id"]), scopes: [.producer, .operator]) {
            gateway, arguments, principal in
            let id = try text(arguments, "id")
            try principal.authorize(queue: try await gateway.engine.task(id: id).queue)
            return json(try await gateway.engine.cancel(id: id).jsonBytes())
        },
        ControlTool(
            tool: tool("list_dead_letters", "Lists dead tasks in burial order (queue, type filters; limit, cursor).", ["queue": string(nil), "type": string(nil), "limit": integer(nil, maximum: 1000), "cursor": string(nil)]),
            scopes: [.viewer, .operator]
        ) { gateway, arguments, principal in
            let queue = try optionalText(arguments, "queue")
            if let queue { try principal.authorize(queue: queue) } else if principal.queues != nil { throw SwitchboardError.invalid("name a queue: this token is limited to some") }
            let page = try await gateway.engine.deadLetters(
                queue: queue, type: try optionalText(arguments, "type"), page: PageRequest(limit: try number(arguments, "limit") ?? 100, cursor: try optionalText(arguments, "cursor")))
            return pageResult(page)
        },
        ControlTool(tool: tool("requeue_dead_letter", "Puts a dead task back to pending with its attempts reset.", ["id": string("The task's id.")], required: ["id"]), scopes: [.operator]) {
            gateway, arguments, principal in
            let id = try text(arguments, "id")
            try principal.authorize(queue: try await gateway.engine.task(id: id).queue)
            return json(try await gateway.engine.requeueDead(id: id).jsonBytes())
        },
        ControlTool(
            tool: tool("acquire_lock", "Takes a lock for ttl_ms, waiting up to wait_ms for it; returns the lease with its fencing token, or an error when it is still held.",
                ["key": string(nil), "holder": string(nil), "ttl_ms": integer(nil, maximum: 86_400_000), "wait_ms": integer(nil, maximum: 60_000)], required: ["key", "holder", "ttl_ms"]),
            scopes: [.worker]
        ) { gateway, arguments, _ in
            let (key, holder) = (try text(arguments, "key"), try text(arguments, "holder"))
            let ttl = Duration.milliseconds(try number(arguments, "ttl_ms") ?? 0)
            let wait = Duration.milliseconds(try number(arguments, "wait_ms") ?? 0)
            try LockLimits().validate(key: key, holder: holder, ttl: ttl, wait: wait)
            guard let lease = try await gateway.locks.acquire(key: key, holder: holder, ttl: ttl, wait: wait) else {
                return failure("the lock \(key) is held by someone else")
            }
            return json(lease.jsonBytes())
        },
        ControlTool(
            tool: tool("release_lock", "Releases a lock this holder took (its token from acquire_lock).", ["key": string(nil), "holder": string(nil), "token": integer(nil, maximum: nil)], required: ["key", "holder", "token"]),
            scopes: [.worker]
        ) { gateway, arguments, _ in
            let (key, holder) = (try text(arguments, "key"), try text(arguments, "holder"))
            guard let token = try number(arguments, "token"), token > 0 else { throw SwitchboardError.invalid("token must be a positive integer") }
            try await gateway.locks.release(key: key, holder: holder, token: UInt64(token))
            return json(Array(#"{"released":true}"#.utf8))
        },
    ]

    // MARK: Schemas and arguments

    static func tool(_ name: String, _ description: String, _ properties: [String: Value], required: [String] = [], open: Bool = false) -> MCP.Tool {
        var schema: [String: Value] = ["type": "object", "properties": .object(properties)]
        if !required.isEmpty { schema["required"] = .array(required.map { .string($0) }) }
        if !open { schema["additionalProperties"] = false }
        return MCP.Tool(name: name, description: description, inputSchema: .object(schema))
    }

    static func string(_ description: String?) -> Value {
        description.map { ["type": "string", "description": .string($0)] } ?? ["type": "string"]
    }

    static func integer(_ description: String?, maximum: Int?) -> Value {
        var rules: [String: Value] = ["type": "integer", "minimum": 0]
        if let maximum { rules["maximum"] = .int(maximum) }
        if let description { rules["description"] = .string(description) }
        return .object(rules)
    }

    static func any(_ description: String) -> Value { ["description": .string(description)] }

    static func text(_ arguments: [String: Value], _ key: String) throws -> String {
        guard let value = try optionalText(arguments, key), !value.isEmpty else { throw SwitchboardError.invalid("\(key) is required") }
        return value
    }

    static func optionalText(_ arguments: [String: Value], _ key: String) throws -> String? {
        switch arguments[key] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw SwitchboardError.invalid("\(key) must be a string")
        }
    }

    static func number(_ arguments: [String: Value], _ key: String) throws -> Int? {
        switch arguments[key] {
        case nil, .null?: return nil
        case .int(let n)?: return n
        case .double(let d)? where d.rounded() == d && abs(d) < 1e15: return Int(d)
        default: throw SwitchboardError.invalid("\(key) must be an integer")
        }
    }

    static func pageResult(_ page: Page<TaskRecord>) -> CallTool.Result {
        var w = JSONWriter(capacity: 64 + page.items.count * 700)
        ItemsPage.write(page.items, nextCursor: .some(page.nextCursor), to: &w) { w, task in task.write(to: &w) }
        return json(w.bytes)
    }
}
