import Foundation
import MCP
import SwitchboardAPI
import SwitchboardAuth
import SwitchboardCore
import SwitchboardJSON

/// The tools of the MCP endpoint: the control plane's, and those the workers host.
extension MCPGateway {
    struct ControlTool: Sendable {
        var tool: MCP.Tool
        /// Who may call it (admin always may).
        var scopes: Set<Scope>
        var run: @Sendable (MCPGateway, [String: Value], Principal) async throws -> CallTool.Result
    }

    /// The tools the live workers host, by name (the first worker's description and schema).
    nonisolated func workerTools() -> [ToolDescriptor] {
        var byName: [String: ToolDescriptor] = [:]
        for worker in engine.workers.list(now: engine.clock.now()) where !worker.gone {
            for tool in worker.tools where tool.name.contains(".") && byName[tool.name] == nil { byName[tool.name] = tool }
        }
        return byName.values.sorted { $0.name < $1.name }
    }

    /// The first queue a live worker hosting `tool` takes from.
    nonisolated func queue(hosting tool: String) -> String? {
        engine.workers.list(now: engine.clock.now()).first { !$0.gone && $0.tools.contains { $0.name == tool } }?.queues.first
    }

    func register(on server: Server, session: String) async {
        let controls = Self.controlTools
        await server.withMethodHandler(ListTools.self) { [weak self] _ in
            guard let self else { return .init(tools: []) }
            let proxied = self.workerTools().map { descriptor in
                MCP.Tool(
                    name: descriptor.name, description: descriptor.description.isEmpty ? "Runs on a Switchboard worker as a task." : descriptor.description,
                    inputSchema: descriptor.inputSchema.flatMap { try? JSONDecoder().decode(Value.self, from: Data($0.bytes)) } ?? ["type": "object"])
            }
            return .init(tools: controls.map(\.tool) + proxied)
        }
        await server.withMethodHandler(CallTool.self) { [weak self] call in
            guard let self else { throw MCPError.internalError("the server is stopping") }
            guard let principal = await self.principal(ofSession: session) else { throw MCPError.invalidRequest("the session is closed") }
            let arguments = call.arguments ?? [:]
            do {
                if let control = controls.first(where: { $0.tool.name == call.name }) {
                    guard principal.holds(anyOf: control.scopes) else {
                        return Self.failure("\(call.name) needs one of the scopes \(control.scopes.map(\.rawValue).sorted().joined(separator: ", "))")
                    }
                    return try await control.run(self, arguments, principal)
                }
                return try await self.proxy(call.name, arguments: arguments, principal: principal, session: session)
            } catch let error as SwitchboardError {
                return Self.failure(error.detail)
            } catch let error as AuthError {
                return Self.failure("\(error)")
            }
        }
    }

    // MARK: Proxied calls

    /// A worker's tool, as a task: enqueued (idempotent per MCP request), then awaited.
    func proxy(_ name: String, arguments: [String: Value], principal: Principal, session: String) async throws -> CallTool.Result {
        guard principal.holds(anyOf: [.producer]) else { return Self.failure("calling a worker's tool needs the producer scope") }
        guard let queue = queue(hosting: name), let descriptor = workerTools().first(where: { $0.name == name }) else {
            return Self.failure("no connected worker hosts the tool \(name)")
        }
        try principal.authorize(queue: queue)
        let input = try JSONEncoder().encode(Value.object(arguments))
        var submission = TaskSubmission(
            queue: queue, type: "tool_call", runID: "mcp-\(session)",
            payload: try RawJSON(validating: Array(#"{"tool_name":"# .utf8) + Self.quoted(name) + Array(#","input":"#.utf8) + Array(input) + [UInt8(ascii: "}")]))
        submission.metadata = ["mcp_session": session]
        submission.lockKey = descriptor.lockKey
        if let requestID = Self.requestID() { submission.idempotencyKey = "mcp-\(session)-\(requestID)" }
        let task = try await engine.enqueue(submission).task
        let finished: TaskRecord
        do {
            finished = try await withTaskCancellationHandler {
                try await engine.waitUntilFinished(id: task.id, timeout: callTimeout)
            } onCancel: { [engine] in
                Task { _ = try? await engine.cancel(id: task.id) }
            }
        }
        switch finished.status {
        case .completed:
            return Self.toolResult(finished.result, task: finished)
        case .dead:
            return Self.failure("task \(finished.id) failed after \(finished.attempts) attempt\(finished.attempts == 1 ? "" : "s") and is in the dead-letter queue: \(finished.error ?? "no error")")
        case .cancelled:
            return Self.failure("task \(finished.id) was cancelled")
        default:
            return Self.failure("task \(finished.id) did not finish within \(callTimeout.wholeMilliseconds / 1000) s; it is \(finished.status.rawValue) (see get_task)")
        }
    }

    /// A worker's MCP result (`{content, structuredContent}`) as the call's answer; another
    /// result (a tool that is not an MCP server's) as JSON text.
    static func toolResult(_ result: RawJSON?, task: TaskRecord) -> CallTool.Result {
        struct Answer: Decodable {
            var content: [MCP.Tool.Content]
            var structuredContent: Value?
        }
        if let result, let answer = try? JSONDecoder().decode(Answer.self, from: Data(result.bytes)) {
            return CallTool.Result(content: answer.content, structuredContent: answer.structuredContent, isError: false)
        }
        return json((result ?? .null).bytes)
    }

    /// The JSON-RPC id of the request being handled, read from the HTTP request it came in.
    static func requestID() -> String? {
        guard let body = Server.currentHandlerContext?.httpContext?.body,
            let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let id = object["id"]
        else { return nil }
        return "\(id)"
    }

    static func quoted(_ text: String) -> [UInt8] {
        var w = JSONWriter(capacity: text.utf8.count + 2)
        w.string(text)
        return w.bytes
    }

    static func failure(_ message: String) -> CallTool.Result {
        CallTool.Result(content: [.text(text: message, annotations: nil, _meta: nil)], isError: true)
    }

    static func json(_ bytes: [UInt8]) -> CallTool.Result {
        let structured = try? JSONDecoder().decode(Value.self, from: Data(bytes))
        let object: Value? = if case .object = structured { structured } else { nil }
        return CallTool.Result(content: [.text(text: String(decoding: bytes, as: UTF8.self), annotations: nil, _meta: nil)], structuredContent: object)
    }
}
