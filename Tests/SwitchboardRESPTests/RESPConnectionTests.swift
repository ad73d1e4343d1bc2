import NIOCore
import NIOEmbedded
import Synchronization
@testable import SwitchboardRESP
import Testing

/// The connection over an in-memory channel: what it writes, and how it matches replies.
@Suite("RESP connection (in-memory channel)")
struct RESPConnectionTests {
    func makeChannel(onPush: @escaping @Sendable (RESPValue) -> Void = { _ in }) async throws -> NIOAsyncTestingChannel {
        let channel = NIOAsyncTestingChannel()
        try await channel.testingEventLoop.executeInContext {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder()))
            try channel.pipeline.syncOperations.addHandler(RESPCommandHandler(onPush: onPush))
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379))
        return channel
    }

    func written(_ channel: NIOAsyncTestingChannel) async throws -> String {
        String(buffer: try await channel.waitForOutboundWrite(as: ByteBuffer.self))
    }

    @Test("the handshake sends HELLO 3 with AUTH, then SELECT")
    func handshake() async throws {
        let channel = try await makeChannel()
        async let connection = RESPConnection.handshake(
            channel: channel, url: RedisURL(host: "h", user: "app", password: "pw", database: 2))
        #expect(try await written(channel) == "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$2\r\npw\r\n")
        try await channel.writeInbound(ByteBuffer(string: "%1\r\n+proto\r\n:3\r\n"))
        #expect(try await written(channel) == "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n")
        try await channel.writeInbound(ByteBuffer(string: "+OK\r\n"))
        #expect(try await connection.protocolVersion == 3)
    }

    @Test("a failed AUTH fails the handshake and closes")
    func badAuth() async throws {
        let channel = try await makeChannel()
        let connection = Task { try await RESPConnection.handshake(channel: channel, url: RedisURL(password: "wrong")) }
        _ = try await written(channel)
        try await channel.writeInbound(ByteBuffer(string: "-WRONGPASS invalid username-password pair\r\n"))
        await #expect(throws: RedisError.self) { try await connection.value }
        #expect(!channel.isActive)
    }

    @Test("pipelined replies complete their commands in order; error replies stay values")
    func pipelining() async throws {
        let channel = try await makeChannel()
        let connection = RESPConnection(channel: channel, protocolVersion: 3)
        async let replies = connection.pipeline([RESPCommand("INCR", "a"), RESPCommand("GET", "b"), RESPCommand("BAD")])
        #expect(try await written(channel).hasPrefix("*2\r\n$4\r\nINCR"))
        try await channel.writeInbound(ByteBuffer(string: ":1\r\n$-1\r\n-ERR unknown command\r\n"))
        #expect(try await replies == [.integer(1), .null, .error("ERR unknown command")])
        let one = Task { try await connection.send(RESPCommand("BAD")) }
        _ = try await written(channel)
        try await channel.writeInbound(ByteBuffer(string: "-ERR nope\r\n"))
        await #expect(throws: RedisError(message: "ERR nope")) { try await one.value }
    }

    @Test("push messages do not consume replies")
    func pushes() async throws {
        let received = PushBox()
        let channel = try await makeChannel(onPush: { received.append($0) })
        let connection = RESPConnection(channel: channel, protocolVersion: 3)
        async let reply = connection.send(RESPCommand("PING"))
        _ = try await written(channel)
        try await channel.writeInbound(ByteBuffer(string: ">2\r\n+message\r\n+hi\r\n+PONG\r\n"))
        #expect(try await reply == .simpleString("PONG"))
        #expect(received.values == [.push([.simpleString("message"), .simpleString("hi")])])
    }

    @Test("when the channel dies every waiting command fails")
    func disconnect() async throws {
        let channel = try await makeChannel()
        let connection = RESPConnection(channel: channel, protocolVersion: 3)
        let a = Task { try await connection.send(RESPCommand("GET", "a")) }
        _ = try await written(channel)
        let b = Task { try await connection.send(RESPCommand("GET", "b")) }
        _ = try await written(channel)
        try await channel.close()
        await #expect(throws: RESPConnectionError.closed) { try await a.value }
        await #expect(throws: RESPConnectionError.closed) { try await b.value }
        await #expect(throws: (any Error).self) { try await connection.send(RESPCommand("PING")) }
    }

    @Test("a reply past its deadline fails with timeout and closes the connection")
    func timeout() async throws {
        let channel = try await makeChannel()
        let connection = RESPConnection(channel: channel, protocolVersion: 3)
        let slow = Task { try await connection.send(RESPCommand("BLPOP", "q", 0), timeout: .milliseconds(50)) }
        _ = try await written(channel)
        let other = Task { try await connection.send(RESPCommand("PING"), timeout: .seconds(60)) }
        _ = try await written(channel)
        await channel.testingEventLoop.advanceTime(by: .milliseconds(60))
        await #expect(throws: RESPConnectionError.timeout) { try await slow.value }
        await #expect(throws: RESPConnectionError.closed) { try await other.value }
        #expect(!channel.isActive)
    }

    @Test("an unexpected reply closes the connection")
    func unexpectedReply() async throws {
        let channel = try await makeChannel()
        await #expect(throws: RESPConnectionError.unexpectedReply) {
            try await channel.writeInbound(ByteBuffer(string: "+SURPRISE\r\n"))
        }
        #expect(!channel.isActive)
    }
}

final class PushBox: Sendable {
    private let storage = Mutex<[RESPValue]>([])
    func append(_ value: RESPValue) { storage.withLock { $0.append(value) } }
    var values: [RESPValue] { storage.withLock { $0 } }
}
