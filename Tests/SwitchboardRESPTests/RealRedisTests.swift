import Foundation
import NIOCore
@testable import SwitchboardRESP
import Testing

/// The redis-server that scripts/test.sh starts on a free loopback port.
let testRedisURL: RedisURL? = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_REDIS_URL"].flatMap { try? RedisURL($0) }

@Suite("Real redis-server is there in CI")
struct RealRedisPresence {
    @Test("CI runs the Redis tests against a real server")
    func presentInCI() {
        if ProcessInfo.processInfo.environment["CI"] != nil {
            #expect(testRedisURL != nil, "scripts/test.sh must start redis-server and set SWITCHBOARD_TEST_REDIS_URL")
            #expect(redisServerBinary != nil, ".ci/run must install redis-server")
            #expect(testRedissURL != nil, "scripts/test.sh must start a TLS redis-server and set SWITCHBOARD_TEST_REDISS_URL")
        }
    }
}

@Suite("RESP client against a real redis-server", .enabled(if: testRedisURL != nil), .timeLimit(.minutes(1)))
struct RealRedisTests {
    var url: RedisURL { testRedisURL! }

    func connect(database: Int = 9) async throws -> RESPConnection {
        var url = url
        url.database = database
        return try await RESPConnection.connect(to: url)
    }

    @Test("handshake speaks RESP3 and selects the database")
    func handshake() async throws {
        let connection = try await connect()
        defer { Task { await connection.close() } }
        #expect(connection.protocolVersion == 3)
        let key = "sb:test:\(UUID().uuidString)"
        try await connection.send(RESPCommand("SET", key, "9"))
        let other = try await connect(database: 10)
        #expect(try await other.send(RESPCommand("GET", key)) == .null, "databases are separate")
        #expect(try await connection.send(RESPCommand("GET", key)).string == "9")
        await other.close()
    }

    @Test("a thousand pipelined commands come back in order")
    func pipelineOrder() async throws {
        let connection = try await connect()
        let key = "sb:test:\(UUID().uuidString)"
        let replies = try await connection.pipeline((0..<1000).map { _ in RESPCommand("INCR", key) })
        #expect(replies == (1...1000).map { RESPValue.integer(Int64($0)) })
        let concurrent = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for _ in 0..<8 {
                group.addTask { try await connection.pipeline((0..<50).map { _ in RESPCommand("INCR", key) }).compactMap(\.int) }
            }
            return try await group.reduce(into: [Int64]()) { $0 += $1 }
        }
        #expect(Set(concurrent) == Set((1001...1400).map { Int64($0) }), "concurrent pipelines never mix replies")
        await connection.close()
    }

    @Test("binary-safe values and error replies")
    func values() async throws {
        let connection = try await connect()
        let key = "sb:test:\(UUID().uuidString)"
        let bytes: [UInt8] = [0, 13, 10, 255, 36, 42]
        try await connection.send(RESPCommand("SET", key, bytes))
        guard case .bulkString(let stored) = try await connection.send(RESPCommand("GET", key)) else {
            Issue.record("expected a bulk string")
            return
        }
        #expect(Array(stored.readableBytesView) == bytes)
        await #expect(throws: RedisError.self) { try await connection.send(RESPCommand("INCR", key)) }
        do {
            try await connection.send(RESPCommand("NO-SUCH-COMMAND"))
        } catch let error as RedisError {
            #expect(error.code == "ERR")
        }
        await connection.close()
    }

    @Test("scripts run by EVALSHA and are reloaded after SCRIPT FLUSH")
    func scripts() async throws {
        let connection = try await connect()
        let key = "sb:test:\(UUID().uuidString)"
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        #expect(try await script.run(on: connection, keys: [key], arguments: [5]) == .integer(5))
        try await connection.send(RESPCommand("SCRIPT", "FLUSH"))
        #expect(try await script.run(on: connection, keys: [key], arguments: [2]) == .integer(7))
        await #expect(throws: RedisError.self) {
            try await RedisScript("return redis.call('NOPE')").run(on: connection, keys: [], arguments: [])
        }
        await connection.close()
    }

    @Test("an ACL user authenticates with its password and is refused with a wrong one")
    func aclUser() async throws {
        let admin = try await connect()
        let user = "sbtest-\(UUID().uuidString.prefix(8))"
        try await admin.send(RESPCommand("ACL", "SETUSER", user, "on", ">right-password", "~*", "+@all"))
        var good = url
        good.user = user
        good.password = "right-password"
        let connection = try await RESPConnection.connect(to: good)
        #expect(try await connection.send(RESPCommand("ACL", "WHOAMI")).string == user)
        await connection.close()
        var bad = good
        bad.password = "definitely-wrong"
        do {
            _ = try await RESPConnection.connect(to: bad)
            Issue.record("a wrong password was accepted")
        } catch let error as RedisError {
            #expect(error.code == "WRONGPASS")
        }
        try await admin.send(RESPCommand("ACL", "DELUSER", user))
        await admin.close()
    }

    @Test("a server that is not there fails fast")
    func refused() async throws {
        await #expect(throws: (any Error).self) {
            try await RESPConnection.connect(to: RedisURL(host: "127.0.0.1", port: 1), connectTimeout: .seconds(2))
        }
    }
}
