import DequeModule
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// How to introduce ourselves to the server.
public struct NATSConnectOptions: Sendable {
    /// Shown by the server's monitoring (`connz`).
    public var name = "switchboard"
    public var connectTimeout: Duration = .seconds(5)
    /// How long the handshake (INFO, CONNECT, the first PONG) may take once connected.
    public var handshakeTimeout: Duration = .seconds(5)
    public var limits = NATSLimits()
    /// A server older than this is refused with a clear error (nil: any).
    public var minimumServerVersion: (major: Int, minor: Int)?
    /// For `tls://` URLs (default: the system's trusted roots, host names verified).
    public var tls: NIOSSLContext?
    /// NKey authentication: the server's nonce is signed with it.
    public var nkey: NKey?
    /// Decentralized auth (a `.creds` file): its JWT, and the nonce signed with its seed.
    public var credentials: NATSCredentials?

    public init() {}
}

/// One connection to a NATS server: publish, subscribe, request/reply through one muxed inbox,
/// and a flush (PING/PONG round trip). Reconnecting is its owner's business.
public final class NATSConnection: Sendable {
    public let channel: any Channel

    private struct State {
        var info: NATSServerInfo?
        var handshake: CheckedContinuation<Void, any Error>?
        var pongs: Deque<CheckedContinuation<Void, any Error>> = []
        var subscriptions: [String: AsyncStream<NATSMessage>.Continuation] = [:]
        var nextSubscriptionID = 0
        /// The muxed inbox's subscription id, once subscribed.
        var inboxSubscription: String?
        var inboxSubscribed: Task<Void, any Error>?
        var requests: [String: EventLoopPromise<NATSMessage>] = [:]
        var nextRequest = 0
        var ended: NATSError?
        var endWaiters: [CheckedContinuation<Void, Never>] = []
        var lastServerError: String?
    }

    private let state = Mutex(State())
    /// When the server last sent anything, in nanoseconds of the monotonic clock.
    private let lastHeard = Atomic<UInt64>(DispatchTimeLike.now())

    func heard() { lastHeard.store(DispatchTimeLike.now(), ordering: .relaxed) }

    /// How long the server has sent nothing.
    public var silence: Duration { .nanoseconds(Int64(DispatchTimeLike.now() &- lastHeard.load(ordering: .relaxed))) }
    /// `_INBOX.<random>`: replies to this connection's requests come to `<inbox>.<n>`.
    let inbox: String

    init(channel: any Channel) {
        self.channel = channel
        var random = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        inbox = "_INBOX." + String(decoding: (0..<22).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }, as: UTF8.self)
    }

    /// What the server said of itself (the latest INFO).
    public var serverInfo: NATSServerInfo? { state.withLock { $0.info } }

    public var isActive: Bool { channel.isActive && state.withLock { $0.ended == nil } }

    // MARK: Connecting

    /// Connects to the first server of `url` that answers, and shakes hands.
    public static func connect(
        to url: NATSURL, options: NATSConnectOptions = NATSConnectOptions(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> NATSConnection {
        var lastError: any Error = NATSError.closed("no servers in the URL")
        for server in url.servers {
            do {
                return try await connect(to: server, url: url, options: options, eventLoopGroup: eventLoopGroup)
            } catch let error as NATSError where !error.isTransient {
                throw error
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    static func connect(
        to server: NATSURL.Server, url: NATSURL, options: NATSConnectOptions, eventLoopGroup: any EventLoopGroup
    ) async throws -> NATSConnection {
        let limits = options.limits
        // The server speaks first: the handler must be in place before the first read.
        let made = Mutex<NATSConnection?>(nil)
        _ = try await ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(TimeAmount(options.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = NATSConnection(channel: channel)
                    made.withLock { $0 = connection }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(NATSDecoder(limits: limits)))
                    try channel.pipeline.syncOperations.addHandler(NATSConnectionHandler(connection: connection))
                }
            }
            .connect(host: server.host, port: server.port).get()
        guard let connection = made.withLock({ $0 }) else { throw NATSError.closed("the channel was not initialized") }
        do {
            try await connection.handshake(url: url, host: server.host, options: options)
        } catch {
            connection.close()
            throw error
        }
        return connection
    }


    private func handshake(url: NATSURL, host: String, options: NATSConnectOptions) async throws {
        let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(options.handshakeTimeout)) {
            self.ended(.timedOut("handshake"))
            self.channel.close(promise: nil)
        }
        do {
            let info = try await serverSpokeFirst()
            try Self.check(info, against: options)
            if url.tls || info.tlsRequired == true { try await startTLS(host: host, options: options) }
            let connect = try Self.connectOptions(url: url, options: options, info: info)
            try await send(.connect(connect))
            try await flush()
        } catch {
            deadline.cancel()
            throw error
        }
        deadline.cancel()
    }

    /// The server's INFO, which it sends first (perhaps before we got here).
    private func serverSpokeFirst() async throws -> NATSServerInfo {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enum Next { case fail(NATSError), go, wait }
            let next = state.withLock { s -> Next in
                if let ended = s.ended { return .fail(ended) }
                if s.info != nil { return .go }
                s.handshake = continuation
                return .wait
            }
            switch next {
            case .fail(let error): continuation.resume(throwing: error)
            case .go: continuation.resume()
            case .wait: break
            }
        }
        guard let info = serverInfo else { throw NATSError.closed("no INFO from the server") }
        return info
    }

    private static func check(_ info: NATSServerInfo, against options: NATSConnectOptions) throws {
        if let minimum = options.minimumServerVersion, !info.isAtLeast(major: minimum.major, minor: minimum.minor) {
            throw NATSError.unsupported("this client: server \(info.version) is older than \(minimum.major).\(minimum.minor), the oldest supported")
        }
    }

    /// TLS after INFO, as the protocol has it: the handler goes in front of the decoder.
    private func startTLS(host: String, options: NATSConnectOptions) async throws {
        let context: NIOSSLContext
        if let configured = options.tls {
            context = configured
        } else {
            context = try NIOSSLContext(configuration: .makeClientConfiguration())
        }
        let serverHostname: String? = host.isIPAddressLiteral ? nil : host
        let channel = self.channel
        try await channel.eventLoop.submit {
            let handler = try NIOSSLClientHandler(context: context, serverHostname: serverHostname)
            try channel.pipeline.syncOperations.addHandler(handler, position: .first)
        }.get()
    }

    static func connectOptions(url: NATSURL, options: NATSConnectOptions, info: NATSServerInfo) throws -> String {
        var fields = [
            "\"verbose\":false", "\"pedantic\":false", "\"lang\":\"swift\"", "\"version\":\"0.1.0\"", "\"protocol\":1",
            "\"headers\":true", "\"no_responders\":true", "\"tls_required\":\(url.tls)", "\"name\":\(jsonString(options.name))",
        ]
        if let user = url.user { fields.append("\"user\":\(jsonString(user))") }
        if let password = url.password { fields.append("\"pass\":\(jsonString(password))") }
        if let token = url.token { fields.append("\"auth_token\":\(jsonString(token))") }
        if let credentials = options.credentials {
            fields.append("\"jwt\":\(jsonString(credentials.jwt))")
            fields.append("\"sig\":\(jsonString(try credentials.key.sign(nonce: info.nonce ?? "")))")
        } else if let nkey = options.nkey {
            fields.append("\"nkey\":\(jsonString(nkey.publicKey))")
            fields.append("\"sig\":\(jsonString(try nkey.sign(nonce: info.nonce ?? "")))")
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    // MARK: Operations

    /// Publishes a message (headers need a server that supports them: 2.2+).
    public func publish(_ subject: String, payload: ByteBuffer, headers: NATSHeaders? = nil, replyTo: String? = nil) async throws {
        try await send(.publish(subject: subject, replyTo: replyTo, headers: headers, payload: payload))
    }

    /// Publishes several messages in one write (one flush, one event-loop hop), in order.
    public func publish(batch messages: [(subject: String, headers: NATSHeaders?, payload: ByteBuffer)]) async throws {
        guard !messages.isEmpty else { return }
        var operations: [NATSClientOperation] = []
        operations.reserveCapacity(messages.count)
        var size = 0
        for message in messages {
            let operation = NATSClientOperation.publish(subject: message.subject, replyTo: nil, headers: message.headers, payload: message.payload)
            try check(operation)
            operations.append(operation)
            size += 64 + operation.payloadSize
        }
        if let ended = state.withLock({ $0.ended }) { throw ended }
        var buffer = channel.allocator.buffer(capacity: size)
        for operation in operations { operation.write(to: &buffer) }
        do {
            try await channel.writeAndFlush(buffer)
        } catch {
            throw state.withLock { $0.ended } ?? NATSError.closed("\(error)")
        }
    }

    /// Subscribes; the messages arrive in order on the returned sequence until `unsubscribe()`
    /// (or the sequence is dropped).
    public func subscribe(_ subject: String, queueGroup: String? = nil) async throws -> NATSSubscription {
        let (stream, continuation) = AsyncStream<NATSMessage>.makeStream()
        let id = state.withLock { s -> String in
            s.nextSubscriptionID += 1
            let id = String(s.nextSubscriptionID)
            s.subscriptions[id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in
            guard let self, self.state.withLock({ $0.subscriptions.removeValue(forKey: id) }) != nil else { return }
            Task { try? await self.send(.unsubscribe(subscriptionID: id, after: nil)) }
        }
        do {
            try await send(.subscribe(subject: subject, queueGroup: queueGroup, subscriptionID: id))
        } catch {
            state.withLock { _ = $0.subscriptions.removeValue(forKey: id) }
            continuation.finish()
            throw error
        }
        return NATSSubscription(id: id, subject: subject, messages: stream, connection: self)
    }

    func unsubscribe(_ id: String) async throws {
        guard let continuation = state.withLock({ $0.subscriptions.removeValue(forKey: id) }) else { return }
        continuation.finish()
        try await send(.unsubscribe(subscriptionID: id, after: nil))
    }

    /// Publishes to `subject` with a reply subject of this connection's inbox and waits for the
    /// first reply. A 503 status reply (no one subscribes) throws `noResponders`.
    public func request(_ subject: String, payload: ByteBuffer, headers: NATSHeaders? = nil, timeout: Duration = .seconds(5)) async throws
        -> NATSMessage
    {
        try await ensureInbox()
        let token = state.withLock { s -> String in
            s.nextRequest += 1
            return String(s.nextRequest)
        }
        // Registered before the request is sent (a reply may come back at once); answered by
        // the reply, the timeout, a cancel, or the connection's end, whichever is first.
        let promise = channel.eventLoop.makePromise(of: NATSMessage.self)
        if let ended = state.withLock({ s -> NATSError? in
            if s.ended == nil { s.requests[token] = promise }
            return s.ended
        }) {
            promise.fail(ended)
        }
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            self.state.withLock { $0.requests.removeValue(forKey: token) }?.fail(NATSError.timedOut("request on \(subject)"))
        }
        defer { timer.cancel() }
        let reply = try await withTaskCancellationHandler {
            do {
                try await send(.publish(subject: subject, replyTo: "\(inbox).\(token)", headers: headers, payload: payload))
            } catch {
                state.withLock { $0.requests.removeValue(forKey: token) }?.fail(error)
            }
            return try await promise.futureResult.get()
        } onCancel: {
            state.withLock { $0.requests.removeValue(forKey: token) }?.fail(CancellationError())
        }
        if reply.status == 503 { throw NATSError.noResponders(subject: subject) }
        return reply
    }

    /// Subscribes the muxed inbox once; every request waits until that SUB is written, so that
    /// no request goes out before the server knows where to send its reply.
    private func ensureInbox() async throws {
        let subscribing = state.withLock { s -> Task<Void, any Error> in
            if let existing = s.inboxSubscribed { return existing }
            s.nextSubscriptionID += 1
            let id = String(s.nextSubscriptionID)
            s.inboxSubscription = id
            let task = Task { try await self.send(.subscribe(subject: "\(self.inbox).*", queueGroup: nil, subscriptionID: id)) }
            s.inboxSubscribed = task
            return task
        }
        try await subscribing.value
    }

    /// A round trip to the server: everything sent before has been read by it.
    public func flush() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let failure = state.withLock { s -> NATSError? in
                if let ended = s.ended { return ended }
                s.pongs.append(continuation)
                return nil
            }
            if let failure { return continuation.resume(throwing: failure) }
            Task {
                do {
                    try await self.write(.ping)
                } catch {
                    self.ended(.closed("\(error)"))
                }
            }
        }
    }

    public func close() {
        ended(.closed("closed by the client"))
        channel.close(promise: nil)
    }

    /// Validates, checks the size against the server's `max_payload`, and writes.
    func send(_ operation: NATSClientOperation) async throws {
        try check(operation)
        try await write(operation)
    }

    /// Validates, and checks headers and size against what the server said it takes.
    private func check(_ operation: NATSClientOperation) throws {
        try operation.validate()
        if case .publish(_, _, let headers, _) = operation, let info = serverInfo {
            if headers != nil, info.headers == false { throw NATSError.unsupported("headers") }
            let size = operation.payloadSize
            guard size <= info.maxPayload else { throw NATSError.payloadTooLarge(size: size, max: info.maxPayload) }
        }
    }

    private func write(_ operation: NATSClientOperation) async throws {
        if let ended = state.withLock({ $0.ended }) { throw ended }
        var buffer = channel.allocator.buffer(capacity: 64 + operation.payloadSize)
        operation.write(to: &buffer)
        do {
            try await channel.writeAndFlush(buffer)
        } catch {
            throw state.withLock { $0.ended } ?? NATSError.closed("\(error)")
        }
    }

    // MARK: From the handler

    func received(info json: ByteBuffer) {
        guard let info = try? NATSServerInfo(json: json) else {
            ended(.closed("the server's INFO is not valid JSON"))
            channel.close(promise: nil)
            return
        }
        let handshake = state.withLock { s in
            s.info = info
            defer { s.handshake = nil }
            return s.handshake
        }
        handshake?.resume()
    }

    func receivedPong() {
        state.withLock { $0.pongs.popFirst() }?.resume()
    }

    /// Whether the error ends the connection. Permission violations do not (the one operation
    /// was refused); the server closes after every other.
    func receivedError(_ text: String) -> Bool {
        let lowered = text.lowercased()
        state.withLock { $0.lastServerError = text }
        if lowered.hasPrefix("permissions violation") { return false }
        ended(lowered.contains("authorization") || lowered.contains("authentication") ? .authorization(text) : .server(text))
        return true
    }

    func deliver(_ message: NATSMessage) {
        let target = state.withLock { s -> (request: EventLoopPromise<NATSMessage>?, stream: AsyncStream<NATSMessage>.Continuation?) in
            if message.subscriptionID == s.inboxSubscription {
                let token = message.subject.split(separator: ".").last.map(String.init) ?? ""
                return (s.requests.removeValue(forKey: token), nil)
            }
            return (nil, s.subscriptions[message.subscriptionID])
        }
        target.request?.succeed(message)
        target.stream?.yield(message)
    }

    /// Fails everything waiting and ends every subscription, once.
    func ended(_ error: NATSError) {
        let waiting = state.withLock { s -> State? in
            guard s.ended == nil else { return nil }
            s.ended = error
            let copy = s
            s.handshake = nil
            s.pongs = []
            s.requests = [:]
            s.subscriptions = [:]
            s.endWaiters = []
            return copy
        }
        guard let waiting else { return }
        for waiter in waiting.endWaiters { waiter.resume() }
        waiting.handshake?.resume(throwing: error)
        for pong in waiting.pongs { pong.resume(throwing: error) }
        for request in waiting.requests.values { request.fail(error) }
        for subscription in waiting.subscriptions.values { subscription.finish() }
    }

    /// The last `-ERR` the server sent (a refused operation leaves the connection up; the
    /// protocol does not say which one, so it is for logs and tests).
    public var lastServerError: String? { state.withLock { $0.lastServerError } }

    /// Returns once the connection has ended (at once if it has).
    public func waitUntilEnded() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ended = state.withLock { s -> Bool in
                if s.ended != nil { return true }
                s.endWaiters.append(continuation)
                return false
            }
            if ended { continuation.resume() }
        }
    }

    /// Why the connection ended (nil while it is up).
    public var endedBecause: NATSError? { state.withLock { $0.ended } }
}

/// Messages of one subscription, in order.
public struct NATSSubscription: AsyncSequence, Sendable {
    public typealias Element = NATSMessage

    public let id: String
    public let subject: String
    let messages: AsyncStream<NATSMessage>
    let connection: NATSConnection

    public func makeAsyncIterator() -> AsyncStream<NATSMessage>.AsyncIterator { messages.makeAsyncIterator() }

    /// Stops the messages (the sequence ends).
    public func unsubscribe() async throws {
        try await connection.unsubscribe(id)
    }
}

extension String {
    var isIPAddressLiteral: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}

/// The monotonic clock in nanoseconds, cheap enough for every read from the channel.
enum DispatchTimeLike {
    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }
}
