import Foundation
import Logging
import MCP
import ServiceLifecycle
import SwitchboardCore

/// Runs one MCP server as a child process of the worker for as long as the worker runs: starts
/// it, initializes it, registers its tools as `NAME.TOOL` in the worker's registry, follows
/// `tools/list_changed`, and restarts it with backoff when it exits. Its running calls then fail
/// as retryable attempts; its tools stay registered meanwhile, so that a task for one fails the
/// same way (and is retried) instead of dying as a call of an unknown tool.
public actor MCPServerHost: Service {
    public nonisolated let spec: MCPServerSpec
    private let registry: ToolRegistry
    private let logger: Logger
    private var client: Client?
    private var registered: Set<String> = []
    private nonisolated let readiness = Latch()
    /// Between restarts: 100 ms doubling to 30 s; a server that ran a minute starts from the bottom.
    static let restartBackoff = Backoff(base: .milliseconds(100), cap: .seconds(30), jitter: .none)

    public init(spec: MCPServerSpec, registry: ToolRegistry, logger: Logger = Logger(label: "switchboard.mcp")) {
        self.spec = spec
        self.registry = registry
        var logger = logger
        logger[metadataKey: "mcp_server"] = "\(spec.name)"
        self.logger = logger
    }

    /// The tools registered now, by their registry names.
    public var toolNames: [String] { registered.sorted() }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { try await self.keepRunning() }
    }

    private func keepRunning() async throws {
        var failures = 0
        while !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                let status = try await session()
                if Task.isCancelled { break }
                logger.warning("MCP server exited; restarting", metadata: ["status": "\(status)"])
            } catch {
                if Task.isCancelled { break }
                logger.error("MCP server failed; restarting", metadata: ["error": "\(error)"])
            }
            failures = ContinuousClock.now - started > .seconds(60) ? 1 : failures + 1
            try await Task.sleep(for: Self.restartBackoff.delay(afterAttempt: failures))
        }
    }

    /// One life of the server: returns its exit status once it exits.
    private func session() async throws -> Int32 {
        let (exits, exited) = AsyncStream.makeStream(of: Int32.self)
        let transport: any Transport
        if let url = spec.url {
            // A remote server does not exit: a lost connection or a forgotten session ends this life.
            transport = StreamableHTTPClientTransport(url: url, headers: spec.headers, logger: logger) { reason in
                exited.yield(-1)
                exited.finish()
            }
        } else {
            transport = ChildProcessTransport(command: spec.command, logger: logger) { status in
                exited.yield(status)
                exited.finish()
            }
        }
        let client = Client(name: "switchboard-worker", version: "1")
        await client.onNotification(ToolListChangedNotification.self) { [weak self] _ in
            // Not awaited here: the client's reading loop runs this handler, and the listing's
            // answer comes through that loop.
            Task { try? await self?.refreshTools() }
        }
        do {
            _ = try await client.connect(transport: transport)
            self.client = client
            try await refreshTools()
            logger.info("MCP server ready", metadata: ["tools": "\(toolNames.joined(separator: ", "))"])
            readiness.open()
        } catch {
            self.client = nil
            await client.disconnect()
            throw error
        }
        let status = await withTaskCancellationHandler {
            var status: Int32 = -1
            for await exit in exits { status = exit }
            return status
        } onCancel: {
            exited.finish()
        }
        self.client = nil
        // Fails the calls still waiting for an answer, and stops the child if it still runs.
        await client.disconnect()
        return status
    }

    /// Lists the server's tools and brings the registry to them.
    func refreshTools() async throws {
        guard let client else { return }
        var tools: [MCP.Tool] = []
        var cursor: String?
        repeat {
            let page = try await client.listTools(cursor: cursor)
            tools += page.tools
            cursor = page.nextCursor
        } while cursor != nil
        let names = Set(tools.map { "\(spec.name).\($0.name)" })
        for gone in registered.subtracting(names) { registry.unregister(gone) }
        for tool in tools { registry.register(MCPTool(host: self, tool: tool, name: "\(spec.name).\(tool.name)")) }
        registered = names
    }

    /// Returns once the server has started and its tools are registered the first time, or
    /// when the calling task is cancelled.
    public nonisolated func ready() async {
        await readiness.wait()
    }

    /// Calls `tool`; a cancelled caller (the task timed out or was cancelled) sends MCP's
    /// cancellation notification for the request.
    func call(_ tool: String, arguments: [String: Value]) async throws -> CallTool.Result {
        guard let client else {
            throw TaskFailure("MCP server \(spec.name) is not running (it is being restarted)")
        }
        let request: RequestContext<CallTool.Result> = try await client.callTool(name: tool, arguments: arguments)
        do {
            return try await withTaskCancellationHandler {
                try await request.value
            } onCancel: {
                Task { try? await client.cancelRequest(request.requestID, reason: "the task timed out or was cancelled") }
            }
        } catch let error as MCPError {
            if Task.isCancelled { throw CancellationError() }
            // A disconnect (the server exited) fails what was waiting: another attempt may do.
            throw TaskFailure("MCP server \(spec.name) failed the call: \(error)")
        }
    }
}
