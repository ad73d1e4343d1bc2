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

    @Test("a cancelled caller is answered at once; its late reply is dropped and the connection stays usable")
    func cancellation() async throws {
        let channel = try await makeChannel()
        let connection = RESPConnection(channel: channel, protocolVersion: 3)
        let waiting = Task { try await connection.pipeline([RESPCommand("GET", "a"), RESPCommand("GET", "b")]) }
        _ = try await written(channel)
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        async let next = connection.send(RESPCommand("GET", "c"))
        #expect(try await written(channel) == "*2\r\n$3\r\nGET\r\n$1\r\nc\r\n")
        // The two replies of the cancelled pipeline come first and are dropped; the third is GET c's.
        try await channel.writeInbound(ByteBuffer(string: "$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"))
        #expect(try await next == .bulkString(ByteBuffer(string: "c")))
        #expect(channel.isActive)
    }

    @Test("a command that changes state (awaitReply) gives its cancelled caller the outcome")
    func awaitReply() async throws {
        let channel = try await makeChannel()
        let connection = RESPConnection(channel: channel, protocolVersion: 3)
        let waiting = Task { try await connection.send(RESPCommand("EVALSHA", "abc", 0), whenCancelled: .awaitReply) }
        _ = try await written(channel)
        waiting.cancel()
        try await channel.writeInbound(ByteBuffer(string: ":7\r\n"))
        #expect(try await waiting.value == .integer(7))
    }

    @Test("a caller cancelled before sending writes nothing")
    func cancelledBeforeSending() async throws {
        let channel = try await makeChannel()
        let connection = RESPConnection(channel: channel, protocolVersion: 3)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await connection.send(RESPCommand("PING"))
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(try await channel.readOutbound(as: ByteBuffer.self) == nil)
    }

    @Test("a later command with a shorter deadline times out first: the one timer is moved earlier")
    func shorterDeadlineLater() async throws {
        let channel = try await makeChannel()
        let connection = RESPConnection(channel: channel, protocolVersion: 3)
        let long = Task { try await connection.send(RESPCommand("GET", "a"), timeout: .seconds(60)) }
        _ = try await written(channel)
        let short = Task { try await connection.send(RESPCommand("GET", "b"), timeout: .milliseconds(50)) }
        _ = try await written(channel)
        await channel.testingEventLoop.advanceTime(by: .milliseconds(60))
        await #expect(throws: RESPConnectionError.timeout) { try await short.value }
        await #expect(throws: RESPConnectionError.closed) { try await long.value }
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

/// The connection's bookkeeping on its own, with plain numbers for promises.
@Suite("RESP connection state machine")
struct RESPConnectionStateMachineTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test("one timer for many commands: armed once, moved only earlier, re-armed for what is left")
    func oneTimer() {
        var machine = RESPConnectionStateMachine<Int>()
        guard case .write(armTimer: let first) = machine.write(request: 1, promises: [1], deadline: t0 + .seconds(10)) else {
            Issue.record("write refused"); return
        }
        #expect(first == t0 + .seconds(10))
        for i in 2...100 {
            guard case .write(armTimer: let arm) = machine.write(request: UInt64(i), promises: [i], deadline: t0 + .seconds(10) + .milliseconds(Int64(i))) else {
                Issue.record("write refused"); return
            }
            #expect(arm == nil, "a later deadline does not touch the timer")
        }
        guard case .write(armTimer: let earlier) = machine.write(request: 101, promises: [101], deadline: t0 + .seconds(5)) else {
            Issue.record("write refused"); return
        }
        #expect(earlier == t0 + .seconds(5), "an earlier deadline moves it")
        // Replies answer the oldest first.
        for i in 1...60 {
            guard case .succeed(let promise) = machine.reply() else { Issue.record("no promise"); return }
            #expect(promise == i)
        }
        // The timer fires before any deadline left: it is armed again for the earliest.
        guard case .rearm(let next) = machine.timerFired(now: t0 + .seconds(5) - .milliseconds(1)) else {
            Issue.record("not re-armed"); return
        }
        #expect(next == t0 + .seconds(5))
        guard case .timeOut(let expired, let others) = machine.timerFired(now: t0 + .seconds(5)) else {
            Issue.record("no timeout"); return
        }
        #expect(expired == [101])
        #expect(others == Array(61...100))
        #expect(machine.isClosed)
        guard case .failClosed(let refused) = machine.write(request: 102, promises: [102], deadline: nil) else {
            Issue.record("a closed connection wrote"); return
        }
        #expect(refused == [102])
    }

    @Test("cancel answers a request's waiting commands once; their replies are dropped in turn")
    func cancel() {
        var machine = RESPConnectionStateMachine<Int>()
        _ = machine.write(request: 1, promises: [10, 11], deadline: nil)
        _ = machine.write(request: 2, promises: [20], deadline: nil)
        #expect(machine.cancel(request: 1) == [10, 11])
        #expect(machine.cancel(request: 1) == [], "a second cancel finds nothing")
        guard case .discard = machine.reply(), case .discard = machine.reply(), case .succeed(20) = machine.reply() else {
            Issue.record("replies not matched in order"); return
        }
        guard case .failAndClose = machine.reply() else { Issue.record("an unasked reply was accepted"); return }
        #expect(machine.isClosed)
    }

    @Test("an abandoned command past its deadline still closes the connection; only live callers are failed")
    func abandonedTimeout() {
        var machine = RESPConnectionStateMachine<Int>()
        _ = machine.write(request: 1, promises: [1], deadline: t0)
        _ = machine.write(request: 2, promises: [2], deadline: nil)
        _ = machine.cancel(request: 1)
        guard case .timeOut(let expired, let others) = machine.timerFired(now: t0) else { Issue.record("no timeout"); return }
        #expect(expired.isEmpty && others == [2])
        #expect(machine.closed() == [], "closing twice fails nothing twice")
    }
}
