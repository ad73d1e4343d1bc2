import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MCP
import SwitchboardCore
import SwitchboardMCP
import SwitchboardServer
import Testing

/// `/mcp` through the MCP Swift SDK's client (on our Streamable HTTP client transport) against a
/// live server.
@Suite("MCP endpoint", .timeLimit(.minutes(1)))
struct MCPEndpointTests {
    let h = ServerHarness()

    @Test("a client lists the control tools, enqueues a task and reads it back; bad input is an MCP error")
    func controlTools() async throws {
        let app = Application(router: h.server.router())
        try await app.test(.live) { client in
            let mcp = Client(name: "swift-test", version: "1")
            let transport = StreamableHTTPClientTransport(url: "http://127.0.0.1:\(client.port!)/mcp", logger: Logger(label: "test"))
            _ = try await mcp.connect(transport: transport)
            defer { Task { await mcp.disconnect() } }
            let names = try await mcp.listTools().tools.map(\.name)
            #expect(Set(names) == ["enqueue_task", "get_task", "wait_for_task", "list_tasks", "cancel_task", "list_dead_letters", "requeue_dead_letter", "acquire_lock", "release_lock"])

            let enqueued: MCP.RequestContext<CallTool.Result> = try await mcp.callTool(
                name: "enqueue_task", arguments: ["queue": "mcp", "run_id": "r1", "payload": ["tool_name": "echo", "input": ["x": 1]]])
            let task = try await enqueued.value
            #expect(task.isError != true)
            let id = try #require(task.structuredContent?.objectValue?["id"]?.stringValue)
            #expect(try await h.engine.task(id: id).queue == "mcp")

            let fetched = try await mcp.callTool(name: "get_task", arguments: ["id": .string(id)])
            #expect(fetched.content.count == 1 && fetched.isError != true)
            let listed = try await mcp.callTool(name: "list_tasks", arguments: ["run_id": "r1"])
            #expect(listed.isError != true)

            let bad = try await mcp.callTool(name: "enqueue_task", arguments: ["payload": ["tool_name": "echo"], "priority": 999])
            #expect(bad.isError == true)
            let unknown = try await mcp.callTool(name: "nope.tool", arguments: [:])
            #expect(unknown.isError == true)
            if case .text(let text, _, _)? = unknown.content.first { #expect(text.contains("no connected worker hosts")) }

            // A lock, through the tools.
            let lock: MCP.RequestContext<CallTool.Result> = try await mcp.callTool(
                name: "acquire_lock", arguments: ["key": "k", "holder": "agent", "ttl_ms": 5000])
            let token = try #require(try await lock.value.structuredContent?.objectValue?["token"]?.intValue)
            let released = try await mcp.callTool(name: "release_lock", arguments: ["key": "k", "holder": "agent", "token": .int(token)])
            #expect(released.isError != true)
        }
    }
}
