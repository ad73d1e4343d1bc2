import Foundation
import Logging
import MCP
import SwitchboardCore
import SwitchboardJSON
import Testing

@testable import SwitchboardMCP

/// The Python `mcp` package, an independent MCP implementation, when this machine has it.
let pythonMCP: Bool = {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import mcp.server.mcpserver"]
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}()

let toolsServer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("IntegrationTests/mcp/tools_server.py").path

@Suite("MCP server specs")
struct MCPServerSpecTests {
    @Test("NAME=COMMAND ARGS splits as a shell would, without running one")
    func parsing() throws {
        let spec = try MCPServerSpec(parsing: #"py=python3 -u 'my server.py' --flag="a b" x\ y"#)
        #expect(spec.name == "py")
        #expect(spec.command == ["python3", "-u", "my server.py", "--flag=a b", "x y"])
        for bad in ["noequals", "=cmd", "py=", "py= ", "bad name=x", "py='unclosed", #"py=x\"#, "web=http://", "web=https://a b"] {
            #expect(throws: MCPServerSpec.Invalid.self, "\(bad)") { try MCPServerSpec(parsing: bad) }
        }
    }
}

@Suite("MCP configuration files")
struct MCPConfigurationTests {
    @Test("the mcpServers form MCP clients share: command, args, env")
    func file() throws {
        let json = #"{"mcpServers": {"files": {"command": "python3", "args": ["files.py", "--root", "/srv"]}, "gh": {"command": "gh-mcp", "env": {"TOKEN": "x"}}, "web": {"url": "https://tools.example/mcp", "headers": {"Authorization": "Bearer t"}}}}"#
        let specs = try MCPServerSpec.servers(configuration: Data(json.utf8))
        #expect(specs.map(\.name) == ["files", "gh", "web"])
        #expect(specs[2].url == "https://tools.example/mcp" && specs[2].headers == ["Authorization": "Bearer t"])
        #expect(specs[0].command == ["python3", "files.py", "--root", "/srv"])
        #expect(specs[1].command == ["/usr/bin/env", "TOKEN=x", "gh-mcp"])
        #expect(throws: MCPServerSpec.Invalid.self) { try MCPServerSpec.servers(configuration: Data(#"{"servers": {}}"#.utf8)) }
        #expect(throws: MCPServerSpec.Invalid.self) { try MCPServerSpec.servers(configuration: Data(#"{"mcpServers": {"bad name": {"command": "x"}}}"#.utf8)) }
    }
}

@Suite("Tool input against inputSchema")
struct InputSchemaTests {
    let schema: Value = .object([
        "type": "object",
        "properties": .object([
            "a": .object(["type": "integer", "minimum": 0]), "mode": .object(["enum": ["fast", "slow"]]),
            "tags": .object(["type": "array", "items": .object(["type": "string"])]),
        ]),
        "required": ["a"], "additionalProperties": false,
    ])

    @Test("good input passes; each kind of mismatch is named")
    func problems() {
        #expect(InputSchema.problem(.object(["a": 2, "mode": "fast", "tags": ["x"]]), schema: schema) == nil)
        #expect(InputSchema.problem(.object(["a": .double(2.0)]), schema: schema) == nil, "2.0 is an integer")
        #expect(InputSchema.problem(.object([:]), schema: schema) == "input.a is required")
        #expect(InputSchema.problem(.object(["a": "2"]), schema: schema) == "input.a must be an integer, not a string")
        #expect(InputSchema.problem(.object(["a": -1]), schema: schema) == "input.a must be at least 0")
        #expect(InputSchema.problem(.object(["a": 1, "mode": "medium"]), schema: schema) == #"input.mode must be one of "fast", "slow""#)
        #expect(InputSchema.problem(.object(["a": 1, "tags": [1]]), schema: schema) == "input.tags[0] must be a string, not an integer")
        #expect(InputSchema.problem(.object(["a": 1, "b": 2]), schema: schema) == "input.b is not a parameter of this tool")
        #expect(InputSchema.problem(.object(["anything": 1]), schema: .object([:])) == nil, "an empty schema takes anything")
    }
}

// One Python server at a time: their start-up is CPU-heavy, and other suites' timing checks
// (NATS liveness) share the machine's two cores.
@Suite("Hosting an MCP server (the Python mcp package)", .enabled(if: pythonMCP), .serialized, .timeLimit(.minutes(1)))
struct MCPHostTests {
    func start() async throws -> (MCPServerHost, ToolRegistry, Task<Void, any Error>) {
        let registry = ToolRegistry()
        let host = MCPServerHost(spec: MCPServerSpec(name: "py", command: ["python3", toolsServer]), registry: registry)
        let running = Task { try await host.run() }
        await host.ready()
        return (host, registry, running)
    }

    func call(_ registry: ToolRegistry, _ name: String, _ input: String) async throws -> String {
        let tool = try #require(registry.tool(named: name))
        return try await tool.execute(input: try RawJSON(validating: input)).description
    }

    @Test("its tools are registered as NAME.TOOL and a call returns MCP's result")
    func calls() async throws {
        let (host, registry, running) = try await start()
        defer { running.cancel() }
        #expect(await host.toolNames == ["py.add", "py.crash", "py.fail", "py.grow", "py.slow"])
        let answer = try await call(registry, "py.add", #"{"a": 2, "b": 3}"#)
        let parsed = try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any]
        #expect((parsed?["content"] as? [[String: Any]])?.first?["text"] as? String == "5")
        #expect((parsed?["structuredContent"] as? [String: Any])?["result"] as? Int == 5)
    }

    @Test("a server's tools/list_changed brings its new tools into the registry")
    func listChanged() async throws {
        let (host, registry, running) = try await start()
        defer { running.cancel() }
        #expect(registry.tool(named: "py.grown") == nil)
        #expect(try await call(registry, "py.grow", "{}").contains("grew"))
        for _ in 0..<100 where registry.tool(named: "py.grown") == nil { try await Task.sleep(for: .milliseconds(20)) }
        #expect(await host.toolNames.contains("py.grown"))
        #expect(try await call(registry, "py.grown", "{}").contains("grown"))
    }

    @Test("input that does not match the schema fails for good without a call; a tool error is retryable")
    func failures() async throws {
        let (_, registry, running) = try await start()
        defer { running.cancel() }
        await #expect(throws: TaskFailure.permanent("input does not match py.add's inputSchema: input.b must be an integer, not a string")) {
            try await call(registry, "py.add", #"{"a": 2, "b": "three"}"#)
        }
        await #expect(throws: TaskFailure.permanent("the input of py.add must be a JSON object (its arguments)")) {
            try await call(registry, "py.add", "[1, 2]")
        }
        do {
            _ = try await call(registry, "py.fail", #"{"message": "quota exceeded"}"#)
            Issue.record("a failing tool failed nothing")
        } catch let failure as TaskFailure {
            #expect(failure.retryable && failure.message.contains("quota exceeded"), "\(failure.message)")
        }
    }

    @Test("a cancelled call sends MCP's cancellation: the tool sees it")
    func cancellation() async throws {
        let (_, registry, running) = try await start()
        defer { running.cancel() }
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-cancel-\(UUID().uuidString)").path
        let call = Task { try await self.call(registry, "py.slow", #"{"seconds": 30, "marker": "\#(marker)"}"#) }
        try await Task.sleep(for: .milliseconds(300))
        call.cancel()
        await #expect(throws: CancellationError.self) { try await call.value }
        var seen = false
        for _ in 0..<100 where !seen {
            seen = (try? String(contentsOfFile: marker, encoding: .utf8)) == "cancelled"
            if !seen { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(seen, "the server's tool was cancelled")
    }

    @Test("a server reached over Streamable HTTP (NAME=http://…) is hosted the same way")
    func overHTTP() async throws {
        let port = Int.random(in: 20_000...40_000)
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", toolsServer, "--http", String(port)]
        python.standardOutput = FileHandle.nullDevice
        python.standardError = FileHandle.nullDevice
        try python.run()
        defer { python.terminate() }
        let registry = ToolRegistry()
        let spec = try MCPServerSpec(parsing: "web=http://127.0.0.1:\(port)/mcp")
        #expect(spec.url == "http://127.0.0.1:\(port)/mcp" && spec.command.isEmpty)
        let host = MCPServerHost(spec: spec, registry: registry)
        let running = Task { try await host.run() }
        defer { running.cancel() }
        await host.ready()  // the first tries fail until Python listens; the host retries
        #expect(await host.toolNames.contains("web.add"))
        let answer = try await call(registry, "web.add", #"{"a": 20, "b": 22}"#)
        #expect(answer.contains(#""text":"42""#))
        do {
            _ = try await call(registry, "web.fail", #"{"message": "over http"}"#)
            Issue.record("a failing tool failed nothing")
        } catch let failure as TaskFailure {
            #expect(failure.retryable && failure.message.contains("over http"))
        }
    }

    @Test("a crash fails the running call as retryable; the server is restarted and serves again")
    func crashAndRestart() async throws {
        let (host, registry, running) = try await start()
        defer { running.cancel() }
        let slow = Task { try await self.call(registry, "py.slow", #"{"seconds": 30}"#) }
        try await Task.sleep(for: .milliseconds(200))
        do {
            _ = try await call(registry, "py.crash", "{}")
            Issue.record("the crash answered")
        } catch let failure as TaskFailure {
            #expect(failure.retryable)
        }
        do {
            _ = try await slow.value
            Issue.record("the call running during the crash answered")
        } catch let failure as TaskFailure {
            #expect(failure.retryable)
        }
        // Restarted: the tools answer again.
        var answer: String?
        for _ in 0..<100 where answer == nil {
            answer = try? await call(registry, "py.add", #"{"a": 1, "b": 1}"#)
            if answer == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(answer?.contains(#""text":"2""#) == true)
        #expect(await host.toolNames.contains("py.add"))
    }
}
