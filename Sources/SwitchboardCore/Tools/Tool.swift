import SwitchboardJSON
import Synchronization

/// Something an agent can call: JSON in, JSON out.
public protocol Tool: Sendable {
    var name: String { get }
    var description: String { get }
    /// The JSON Schema of its input, when it has one (an MCP server's tool does).
    var inputSchema: RawJSON? { get }
    /// A lock key that calls of it made as tasks through the server's MCP endpoint carry, so
    /// that they run one at a time (nil: no such rule).
    var lockKey: String? { get }
    /// Runs the tool. Throw `TaskFailure` to choose whether the task is retried; any other
    /// error is retried. Cooperate with cancellation: timeouts and cancel requests cancel it.
    func execute(input: RawJSON) async throws -> RawJSON
}

extension Tool {
    public var inputSchema: RawJSON? { nil }
    public var lockKey: String? { nil }
    public var descriptor: ToolDescriptor { ToolDescriptor(name: name, description: description, inputSchema: inputSchema, lockKey: lockKey) }
}

/// What a worker tells the server about a tool it runs: enough for `GET /v1/workers` and for the
/// server's MCP endpoint to offer it.
public struct ToolDescriptor: Sendable, Hashable {
    public var name: String
    public var description: String
    public var inputSchema: RawJSON?
    /// Calls of it through the MCP endpoint carry this lock key: one runs at a time.
    public var lockKey: String?

    public init(name: String, description: String = "", inputSchema: RawJSON? = nil, lockKey: String? = nil) {
        self.name = name
        self.description = description
        self.inputSchema = inputSchema
        self.lockKey = lockKey
    }
}

/// A handler's verdict on a failed attempt.
public struct TaskFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var retryable: Bool

    public init(_ message: String, retryable: Bool = true) {
        self.message = message
        self.retryable = retryable
    }

    /// Buries the task now, whatever attempts remain (bad input, unknown tool, …).
    public static func permanent(_ message: String) -> TaskFailure { TaskFailure(message, retryable: false) }

    public var description: String { message }
}

/// The tools a worker can run, by name.
public final class ToolRegistry: Sendable {
    private let tools = Mutex<[String: any Tool]>([:])
    private let changes = Atomic<UInt64>(0)

    public init(_ tools: [any Tool] = []) {
        for tool in tools { register(tool) }
    }

    /// The built-in tools (`echo`, `sleep`, `fail`) that the server, examples and tests use.
    public static func builtins(clock: any SwitchboardClock = SystemClock()) -> ToolRegistry {
        ToolRegistry([EchoTool(), SleepTool(clock: clock), FailTool()])
    }

    /// Adds a tool, replacing any tool of the same name.
    public func register(_ tool: any Tool) {
        tools.withLock { $0[tool.name] = tool }
        changes.add(1, ordering: .relaxed)
    }

    /// Goes up with every change: a worker tells the server its tools again when it moved.
    public var version: UInt64 { changes.load(ordering: .relaxed) }

    /// Removes a tool (an MCP server's tool that went away); tasks for it then fail as for any unknown tool.
    public func unregister(_ name: String) {
        tools.withLock { _ = $0.removeValue(forKey: name) }
        changes.add(1, ordering: .relaxed)
    }

    public func tool(named name: String) -> (any Tool)? {
        tools.withLock { $0[name] }
    }

    public var names: [String] {
        tools.withLock { $0.keys.sorted() }
    }

    /// Every tool's descriptor, by name.
    public var descriptors: [ToolDescriptor] {
        tools.withLock { $0.values.map(\.descriptor) }.sorted { $0.name < $1.name }
    }
}
