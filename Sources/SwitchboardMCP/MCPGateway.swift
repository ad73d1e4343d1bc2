import Foundation
import Logging
import MCP
import ServiceLifecycle
import SwitchboardAPI
import SwitchboardAuth
import SwitchboardCore
import SwitchboardJSON

/// The server's MCP endpoint (`/mcp`, Streamable HTTP): one MCP session per client, each an SDK
/// `Server` on a stateful HTTP transport, offering the control plane as tools (`enqueue_task`,
/// `get_task`, …) and every tool the connected workers host, proxied: a call of `NAME.TOOL`
/// becomes a `tool_call` task, so it is retried on another worker when one dies, dead-lettered
/// when it keeps failing, and serialized by a `lock_key` like any task.
public actor MCPGateway: Service {
    struct Session {
        let server: Server
        let transport: StatefulHTTPServerTransport
        /// The caller of its first request; a request of another principal is refused.
        let principal: Principal
        var lastUsed: ContinuousClock.Instant
    }

    let engine: TaskEngine
    let locks: any LockService
    let logger: Logger
    /// The longest a proxied call waits for its task (the client may cancel sooner).
    let callTimeout: Duration
    private var sessions: [String: Session] = [:]
    /// Sessions idle this long are closed.
    static let sessionIdle: Duration = .seconds(3600)
    /// How often the workers' tools are compared with what sessions were told.
    static let toolsCheck: Duration = .seconds(2)
    private var advertised: Set<String> = []

    public init(engine: TaskEngine, locks: any LockService, callTimeout: Duration = .seconds(600), logger: Logger = Logger(label: "switchboard.mcp")) {
        self.engine = engine
        self.locks = locks
        self.callTimeout = callTimeout
        self.logger = logger
    }

    /// Tells sessions when the workers' tools change (`notifications/tools/list_changed`).
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.announceToolChanges()
                try await Task.sleep(for: Self.toolsCheck)
            }
        }
        await closeAllSessions()
    }

    /// Ends every session (their streams end with them): the server is stopping.
    public func closeAllSessions() async {
        let closing = sessions.values
        sessions = [:]
        for session in closing {
            await session.transport.disconnect()
            await session.server.stop()
        }
    }

    private func announceToolChanges() async {
        let now = Set(workerTools().map(\.name))
        guard now != advertised else { return }
        advertised = now
        for session in sessions.values {
            try? await session.server.notify(ToolListChangedNotification.message())
        }
    }

    // MARK: HTTP

    /// One HTTP request to `/mcp`, from `principal`.
    public func handle(_ request: MCP.HTTPRequest, principal: Principal) async -> MCP.HTTPResponse {
        pruneIdleSessions()
        if let id = request.header(HTTPHeaderName.sessionID) {
            guard var session = sessions[id] else {
                return .error(statusCode: 404, .invalidRequest("Not Found: no MCP session \(id) (expired or closed)"))
            }
            guard session.principal.name == principal.name else {
                return .error(statusCode: 403, .invalidRequest("Forbidden: this session belongs to another caller"))
            }
            session.lastUsed = .now
            sessions[id] = session
            let response = await session.transport.handleRequest(request)
            if request.method == "DELETE" {
                sessions[id] = nil
                await session.server.stop()
            }
            return response
        }
        guard request.method == "POST" else {
            return .error(statusCode: 400, .invalidRequest("Bad Request: \(HTTPHeaderName.sessionID) is required"))
        }
        return await startSession(request, principal: principal)
    }

    private func startSession(_ request: MCP.HTTPRequest, principal: Principal) async -> MCP.HTTPResponse {
        let id = UUID().uuidString.lowercased()
        // Origin and Host are checked by the server's browser policy before this is reached.
        let transport = StatefulHTTPServerTransport(
            sessionIDGenerator: FixedSessionID(id: id),
            validationPipeline: StandardValidationPipeline(validators: [
                AcceptHeaderValidator(mode: .sseRequired), ContentTypeValidator(), ProtocolVersionValidator(), SessionValidator(),
            ]))
        let server = Server(
            name: "switchboard", version: "1", title: "Switchboard",
            instructions: "Switchboard's control plane and the tools of its workers. A call of a worker's tool (NAME.TOOL) runs as a task: retried on another worker if one fails, dead-lettered if it keeps failing.",
            capabilities: .init(tools: .init(listChanged: true)))
        await register(on: server, session: id)
        do {
            try await server.start(transport: transport)
        } catch {
            return .error(statusCode: 500, .internalError("the MCP session could not start: \(error)"))
        }
        sessions[id] = Session(server: server, transport: transport, principal: principal, lastUsed: .now)
        let response = await transport.handleRequest(request)
        if case .error = response {
            sessions[id] = nil
            await server.stop()
        }
        return response
    }

    private func pruneIdleSessions() {
        let cut = ContinuousClock.now - Self.sessionIdle
        for (id, session) in sessions where session.lastUsed < cut {
            sessions[id] = nil
            Task { await session.server.stop() }
        }
    }

    var sessionCount: Int { sessions.count }

    func principal(ofSession id: String) -> Principal? { sessions[id]?.principal }

    private struct FixedSessionID: SessionIDGenerator {
        let id: String
        func generateSessionID() -> String { id }
    }
}
