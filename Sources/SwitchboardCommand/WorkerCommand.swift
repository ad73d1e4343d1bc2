import Foundation
import ArgumentParser
import Logging
import ServiceLifecycle
import SwitchboardClient
import SwitchboardCore
import SwitchboardMCP
import UnixSignals

/// `switchboard worker`: the same `Worker` as in `serve`, leasing from a server over REST.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a remote worker: lease tasks from a server over REST and run them with the built-in tools and the tools of the MCP servers it hosts.")

    @OptionGroup var connection: ServerOption
    @Option(help: "This worker's id (shown in GET /v1/workers and on its tasks).")
    var id = Environment.string("WORKER_ID") ?? Environment.hostname
    @Option(help: "Tasks run at once.") var concurrency = Environment.int("CONCURRENCY") ?? 8
    @Option(help: "Queues to take from, in order, comma-separated.") var queues = Environment.string("QUEUES") ?? "default"
    @Option(name: .customLong("lease-ms"), help: "Lease length; unset: each task's timeout plus the server's grace.")
    var leaseMsOption: Int?
    /// Optional options cannot have a default, so the environment is read here.
    var leaseMs: Int? { leaseMsOption ?? Environment.int("LEASE_MS") }
    @Option(help: "How long one lease call waits for work (long-poll).") var waitMs = Environment.int("WAIT_MS") ?? 10_000
    @Option(help: "The longest one call to the server may take (a long-poll adds its wait): how long a dead or half-open connection can hold the worker up.")
    var requestTimeoutMs = Environment.int("REQUEST_TIMEOUT_MS") ?? 10_000
    @Option(help: "On SIGTERM, how long running tasks may finish before they are released.")
    var drainTimeoutMs = Environment.int("DRAIN_TIMEOUT_MS") ?? 30_000
    @Option(
        name: .customLong("mcp"),
        help: ArgumentHelp(
            "An MCP server to host: NAME=COMMAND ARGS… (repeatable); its tools run as NAME.TOOL.",
            discussion: "The command is started as a child process speaking MCP over stdio, and restarted with backoff when it exits."))
    var mcpServers: [String] = Environment.string("MCP").map { $0.split(separator: "\n").map(String.init) } ?? []
    @Option(
        name: .customLong("mcp-config"),
        help: "A JSON file of MCP servers to host, as MCP clients write it: {\"mcpServers\": {NAME: {\"command\", \"args\", \"env\"}}}.")
    var mcpConfigOption: String?
    var mcpConfig: String? { mcpConfigOption ?? Environment.string("MCP_CONFIG") }
    @Option(help: "Hosted tools (NAME.TOOL, comma-separated) whose calls through the server's /mcp run one at a time (a lock key per tool).")
    var mcpSerialize = Environment.string("MCP_SERIALIZE") ?? ""
    @Option(help: "Names of hosted MCP servers whose tool errors bury a task at once (comma-separated); others' are retried.")
    var mcpPermanentErrors = Environment.string("MCP_PERMANENT_ERRORS") ?? ""
    @Option(help: "How long to wait for the hosted MCP servers to start before leasing anyway.")
    var mcpStartTimeoutMs = Environment.int("MCP_START_TIMEOUT_MS") ?? 30_000
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel = Environment.string("LOG_LEVEL") ?? "info"
    @Option(help: "text (for people) or json (one object per line).") var logFormat = Environment.string("LOG_FORMAT") ?? "text"

    func validate() throws {
        guard NamePattern.isIdentifier(id, maxLength: 128) else { throw ValidationError("id must be 1-128 characters of A-Z a-z 0-9 _ . : -") }
        guard concurrency > 0 else { throw ValidationError("concurrency must be positive") }
        guard (0...60_000).contains(waitMs), drainTimeoutMs >= 0 else { throw ValidationError("wait-ms must be 0-60000, drain-timeout-ms not negative") }
        guard (100...600_000).contains(requestTimeoutMs) else { throw ValidationError("request-timeout-ms must be 100-600000") }
        if let leaseMs, leaseMs < 100 { throw ValidationError("lease-ms must be at least 100") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown log level \(logLevel)") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("log format must be text or json") }
        let specs = try mcpSpecs()
        guard Set(specs.map(\.name)).count == specs.count else { throw ValidationError("each --mcp server needs a name of its own") }
        guard mcpStartTimeoutMs >= 0 else { throw ValidationError("mcp-start-timeout-ms must not be negative") }
    }

    func mcpSpecs() throws -> [MCPServerSpec] {
        let permanent = Set(mcpPermanentErrors.split(separator: ",").map { $0.filter { $0 != " " } })
        do {
            var specs = try mcpServers.map { text throws(MCPServerSpec.Invalid) in try MCPServerSpec(parsing: text) }
            if let mcpConfig {
                guard let data = FileManager.default.contents(atPath: mcpConfig) else {
                    throw ValidationError("cannot read the MCP configuration file \(mcpConfig)")
                }
                specs += try MCPServerSpec.servers(configuration: data)
            }
            let serialized = mcpSerialize.split(separator: ",").map { $0.filter { $0 != " " } }
            return specs.map { spec in
                var spec = spec
                spec.errorsArePermanent = permanent.contains(spec.name)
                spec.serialized = Set(serialized.filter { $0.hasPrefix(spec.name + ".") }.map { String($0.dropFirst(spec.name.count + 1)) })
                return spec
            }
        } catch let error as MCPServerSpec.Invalid {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        Logs.bootstrap(level: logLevel, format: logFormat)
        let logger = Logger(label: "switchboard.worker")
        var configuration = connection.configuration
        configuration.timeout = .milliseconds(requestTimeoutMs)
        let client: APIClient
        do {
            client = try APIClient(configuration)
        } catch {
            throw ValidationError("the TLS files cannot be used: \(error)")
        }
        let tools = ToolRegistry.builtins()
        let hosts = try mcpSpecs().map { MCPServerHost(spec: $0, registry: tools, logger: Logger(label: "switchboard.mcp")) }
        let worker = Worker(
            configuration: Worker.Configuration(
                id: id, queues: queues.split(separator: ",").map { $0.filter { $0 != " " } }.filter { !$0.isEmpty },
                concurrency: concurrency, pollInterval: .milliseconds(waitMs), drainTimeout: .milliseconds(drainTimeoutMs),
                leaseDuration: leaseMs.map { .milliseconds($0) }, host: Environment.hostname),
            source: RemoteTaskSource(client: client), locks: RemoteLockService(client: client), tools: tools, logger: logger)
        logger.info("starting", metadata: ["server": "\(connection.server)", "worker_id": "\(id)", "concurrency": "\(concurrency)"])
        // The hosts come first: on SIGTERM the group stops services in reverse order, so the
        // worker drains its tasks (MCP calls among them) before the MCP servers stop.
        let services: [ServiceGroupConfiguration.ServiceConfiguration] =
            hosts.map { .init(service: $0) } + [.init(service: DelayedStart(worker, until: { await Self.ready(hosts, within: mcpStartTimeoutMs, logger: logger) }))]
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("stopped")
    }
}

extension WorkerCommand {
    /// Waits for every hosted MCP server to list its tools, or for the timeout: leasing before
    /// that would fail tasks of their tools as calls of unknown tools.
    static func ready(_ hosts: [MCPServerHost], within milliseconds: Int, logger: Logger) async {
        guard !hosts.isEmpty else { return }
        let allReady = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for host in hosts { await host.ready() }
                return !Task.isCancelled
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(milliseconds))
                return false
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
        if !allReady { logger.warning("not every MCP server started in time; leasing anyway", metadata: ["timeout_ms": "\(milliseconds)"]) }
    }
}

/// A service that starts `base` once `until` returns (and stops it as usual).
struct DelayedStart: Service {
    let base: any Service
    let until: @Sendable () async -> Void

    init(_ base: any Service, until: @escaping @Sendable () async -> Void) {
        self.base = base
        self.until = until
    }

    func run() async throws {
        await until()
        try await base.run()
    }
}
