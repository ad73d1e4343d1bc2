import Foundation
import NIOCore
import NIOPosix
@testable import SwitchboardRESP
import Testing

let redisServerBinary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// A redis-server of the test's own, on a free loopback port, that the test can stop and start.
final class RedisProcess: @unchecked Sendable {
    let port: Int
    let directory: URL
    private var process: Process?

    init() async throws {
        let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        port = probe.localAddress!.port!
        try await probe.close()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-redis-\(port)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try await start()
    }

    var url: RedisURL { RedisURL(host: "127.0.0.1", port: port) }

    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: redisServerBinary!)
        process.arguments = ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", directory.path, "--logfile", directory.appendingPathComponent("redis.log").path]
        try process.run()
        self.process = process
        for _ in 0..<200 {
            if let connection = try? await RESPConnection.connect(to: url, connectTimeout: .milliseconds(200)) {
                await connection.close()
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw RedisURLError("redis-server did not start on port \(port)")
    }

    /// Shuts the server down and waits for it to exit. SHUTDOWN rather than SIGTERM: a child
    /// spawned from a dispatch thread inherits a mask that blocks SIGTERM. And no
    /// `waitUntilExit`, which would block one of the few concurrency threads.
    func stop() async {
        guard let process, process.isRunning else { return }
        if let connection = try? await RESPConnection.connect(to: url, connectTimeout: .seconds(1)) {
            _ = try? await connection.send(RESPCommand("SHUTDOWN", "NOSAVE"), timeout: .seconds(2))
            await connection.close()
        }
        for _ in 0..<400 where process.isRunning { try? await Task.sleep(for: .milliseconds(5)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

@Suite("Redis client pool", .enabled(if: redisServerBinary != nil), .timeLimit(.minutes(1)))
struct RedisClientTests {
    @Test("commands fail cleanly while Redis is down and succeed once it is back, with the same client")
    func ridesOutARestart() async throws {
        let server = try await RedisProcess()
        var configuration = RedisClient.Configuration(url: server.url)
        configuration.reconnectBase = .milliseconds(10)
        configuration.reconnectCap = .milliseconds(100)
        configuration.connectTimeout = .milliseconds(500)
        let client = RedisClient(configuration)
        try await client.send(RESPCommand("SET", "k", "v"))
        await server.stop()
        for _ in 0..<4 {
            do {
                try await client.send(RESPCommand("GET", "k"))
                Issue.record("a command succeeded with the server down")
            } catch {
                #expect(error is RedisUnavailable || error is RESPConnectionError, "\(error)")
            }
        }
        try await server.start()
        var recovered = false
        for _ in 0..<200 where !recovered {
            recovered = (try? await client.send(RESPCommand("PING"))) == .simpleString("PONG")
            if !recovered { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(recovered, "the client reconnected after the restart")
        for _ in 0..<4 { #expect(try await client.send(RESPCommand("PING")) == .simpleString("PONG")) }
        await client.close()
        await server.stop()
    }

    @Test("once one connection is back, a slot still backing off lends its commands to it instead of refusing")
    func backingOffSlotsBorrow() async throws {
        let server = try await RedisProcess()
        var configuration = RedisClient.Configuration(url: server.url)
        configuration.connectionCount = 4
        // A backoff far longer than the test: without borrowing, the slot that failed refuses.
        configuration.reconnectBase = .seconds(60)
        configuration.reconnectCap = .seconds(60)
        configuration.connectTimeout = .milliseconds(500)
        let client = RedisClient(configuration)
        for _ in 0..<4 { try await client.send(RESPCommand("SET", "k", "v")) }
        await server.stop()
        // One command while Redis is down: its slot fails to reconnect and backs off.
        await #expect(throws: (any Error).self) { try await client.send(RESPCommand("GET", "k")) }
        try await server.start()
        // The other slots reconnect as they come round (a connection the restart killed may
        // fail once before it is noticed)…
        var live = 0
        for _ in 0..<50 where live < 3 {
            if (try? await client.send(RESPCommand("PING"))) == .simpleString("PONG") { live += 1 }
        }
        #expect(live == 3)
        // …and then every command goes through, the backing-off slot's included.
        for _ in 0..<8 { #expect(try await client.send(RESPCommand("PING")) == .simpleString("PONG")) }
        await client.close()
        await server.stop()
    }

    @Test("blocking commands run on a dedicated connection and do not hold up the shared ones")
    func dedicatedConnection() async throws {
        let server = try await RedisProcess()
        let client = RedisClient(RedisClient.Configuration(url: server.url))
        let list = "sb:test:list"
        async let popped = client.withDedicatedConnection { connection in
            try await connection.send(RESPCommand("BLPOP", list, 5), timeout: .seconds(10))
        }
        // The shared connections keep answering while BLPOP blocks.
        for _ in 0..<10 { #expect(try await client.send(RESPCommand("PING")) == .simpleString("PONG")) }
        try await client.send(RESPCommand("RPUSH", list, "job"))
        #expect(try await popped.array?.last?.string == "job")
        await client.close()
        await server.stop()
    }

    @Test("a closed client refuses commands")
    func closed() async throws {
        let client = RedisClient(RedisClient.Configuration(url: RedisURL(port: 1)))
        await client.close()
        await #expect(throws: RedisUnavailable.self) { try await client.send(RESPCommand("PING")) }
    }

    @Test("backoff grows, is capped and jittered")
    func backoff() {
        var configuration = RedisClient.Configuration(url: RedisURL())
        configuration.reconnectBase = .milliseconds(100)
        configuration.reconnectCap = .seconds(1)
        let client = RedisClient(configuration)
        for failures in 1...10 {
            let delay = client.backoff(failures: failures)
            let ceiling = min(Duration.seconds(1), .milliseconds(100) * (1 << (failures - 1)))
            #expect(delay >= .zero && delay <= ceiling)
        }
    }
}
