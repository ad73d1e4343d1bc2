import Foundation
import Histogram
import Hummingbird
import Logging
import MCP
import ServiceLifecycle
import SwitchboardCore
import SwitchboardMCP
import SwitchboardServer
import Synchronization

/// Tool calls through the server's `/mcp` → a task → an in-process worker → the MCP server it
/// hosts, against the same MCP server called directly with the same client (the MCP Swift SDK's,
/// on our transports), in the same run: what Switchboard's durability costs per call.
enum BenchMCP {
    static func run(quick: Bool, toolsServer: [String]) async throws {
        let duration: Duration = quick ? .seconds(2) : .seconds(10)
        let samples = quick ? 50 : 500
        // AsyncHTTPClient keeps 8 connections per host: as many callers, both ways.
        let callers = 8
        var logger = Logger(label: "bench.mcp")
        logger.logLevel = .error

        // Directly: the client talks to the MCP server over stdio.
        let direct = Client(name: "bench", version: "1")
        _ = try await direct.connect(transport: ChildProcessTransport(command: toolsServer, logger: logger) { _ in })
        let directRate = try await rate(callers: callers, for: duration) { try await call(direct, "add") }
        let directLatency = try await latency(samples: samples) { try await call(direct, "add") }
        await direct.disconnect()

        // Through Switchboard: /mcp on a server whose in-process worker hosts the same server.
        let metrics = ServerMetrics()
        let engine = TaskEngine.memory(metricsFactory: metrics.factory)
        let tools = ToolRegistry()
        let host = MCPServerHost(spec: MCPServerSpec(name: "py", command: toolsServer), registry: tools, logger: logger)
        let worker = Worker(
            configuration: Worker.Configuration(id: "bench-mcp", concurrency: 64), source: engine, locks: MemoryLockService(), tools: tools,
            logger: logger)
        let server = ControlPlane(engine: engine, locks: MemoryLockService(), metrics: metrics, settings: ServerSettings(), eventLoopGroup: BenchScenarios.serverLoops)
        let hosting = Task { try await host.run() }
        await host.ready()
        let working = Task { try await worker.run() }
        let start = ContinuousClock.now
        var calls = 0
        var throughLatency: (p50: Double, p99: Double) = (0, 0)
        let throughRate = try await BenchHTTP.serve(server.router(context: SwitchboardRequestContext.self), server: server.httpServer, group: server.eventLoopGroup) { port in
            let client = Client(name: "bench", version: "1")
            _ = try await client.connect(transport: StreamableHTTPClientTransport(url: "http://127.0.0.1:\(port)/mcp", logger: logger))
            // The worker tells the server its tools with its first lease call.
            while try await !client.listTools().tools.contains(where: { $0.name == "py.add" }) { try await Task.sleep(for: .milliseconds(20)) }
            let rate = try await rate(callers: callers, for: duration) { try await call(client, "py.add") }
            throughLatency = try await latency(samples: samples) { try await call(client, "py.add") }
            calls = Int(rate * duration.seconds)
            await client.disconnect()
            return rate
        }
        worker.stop()
        _ = try? await working.value
        hosting.cancel()
        _ = try? await hosting.value
        BenchResult(
            scenario: "mcp", backend: "memory", tasks: calls, seconds: Double(calls) / max(throughRate, 1e-9),
            p50: throughLatency.p50, p99: throughLatency.p99,
            baselineName: "the same MCP server called directly with the same client, \(callers) callers", baselinePerSec: directRate,
            extra: [
                ("direct_p50_ms", String(format: "%.3f", directLatency.p50)), ("direct_p99_ms", String(format: "%.3f", directLatency.p99)),
                ("added_p50_ms", String(format: "%.3f", throughLatency.p50 - directLatency.p50)),
                ("wall_seconds", String(format: "%.1f", BenchScenarios.seconds(since: start))),
            ]
        ).print()
    }

    static func call(_ client: Client, _ tool: String) async throws {
        let answer: MCP.RequestContext<CallTool.Result> = try await client.callTool(name: tool, arguments: ["a": 1, "b": 2])
        guard try await answer.value.isError != true else { throw BenchError("the tool call failed") }
    }

    /// Calls per second with `callers` calling back to back.
    static func rate(callers: Int, for duration: Duration, _ body: @escaping @Sendable () async throws -> Void) async throws -> Double {
        let done = Counter()
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<callers {
                group.addTask {
                    while ContinuousClock.now - start < duration {
                        try await body()
                        done.add(1)
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(done.value) / BenchScenarios.seconds(since: start)
    }

    /// p50 and p99 in milliseconds of one call at a time.
    static func latency(samples: Int, _ body: () async throws -> Void) async throws -> (p50: Double, p99: Double) {
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        for _ in 0..<samples {
            let start = ContinuousClock.now
            try await body()
            let elapsed = ContinuousClock.now - start
            histogram.record(UInt64(max(0, elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)))
        }
        return (Double(histogram.valueAtPercentile(50)) / 1e6, Double(histogram.valueAtPercentile(99)) / 1e6)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
