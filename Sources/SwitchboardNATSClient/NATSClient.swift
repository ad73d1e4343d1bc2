import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A NATS client that keeps one connection up: it reconnects with jittered, capped backoff to the
/// URL's servers in turn, and subscriptions made through it outlive the connection (each is made
/// again on the next one). While no connection is up, operations wait for one up to
/// `Configuration.waitForConnection`, then fail with a transient `NATSError.closed`.
/// Messages published while disconnected are not buffered: NATS core is at-most-once, and the
/// layers above (JetStream's acknowledgements) decide what to send again.
public final class NATSClient: Sendable {
    public struct Configuration: Sendable {
        public var url: NATSURL
        public var options = NATSConnectOptions()
        public var reconnectBase: Duration = .milliseconds(100)
        public var reconnectCap: Duration = .seconds(5)
        public var waitForConnection: Duration = .seconds(5)
        /// How often the connection is checked with a PING, and how long the server may then send
        /// nothing at all (no PONG, no message) before the connection is taken for dead (a server
        /// frozen, a half-open TCP connection) and replaced: the server sends nothing to say so.
        /// A PONG that is late behind other traffic is not a death.
        public var pingInterval: Duration = .seconds(2)
        public var pingTimeout: Duration = .seconds(5)
        public var eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton

        public init(url: NATSURL) {
            self.url = url
        }
    }

    private struct Subscription {
        var subject: String
        var queueGroup: String?
        var continuation: AsyncStream<NATSMessage>.Continuation
        /// Its subscription on the current connection, ended with it.
        var onConnection: NATSSubscription?
    }

    private struct State {
        var connection: NATSConnection?
        var waiters: [Int: CheckedContinuation<NATSConnection, any Error>] = [:]
        var nextWaiter = 0
        var subscriptions: [Int: Subscription] = [:]
        var nextSubscription = 0
        var closed = false
        var reconnects = 0
    }

    public let configuration: Configuration
    private let state = Mutex(State())
    private let logger: Logger
    private let supervisor = Mutex<Task<Void, Never>?>(nil)

    public init(_ configuration: Configuration, logger: Logger = Logger(label: "switchboard.nats")) {
        self.configuration = configuration
        self.logger = logger
        let task = Task { [weak self] in
            guard let self else { return }
            await self.keepConnected()
        }
        supervisor.withLock { $0 = task }
    }

    /// Connections made after the first.
    public var reconnects: Int { state.withLock { $0.reconnects } }

    public var isConnected: Bool { state.withLock { $0.connection?.isActive ?? false } }

    /// The server's INFO on the current connection.
    public var serverInfo: NATSServerInfo? { state.withLock { $0.connection?.serverInfo } }

    public func close() {
        let (connection, waiters, subscriptions) = state.withLock { s in
            s.closed = true
            defer {
                s.waiters = [:]
                s.subscriptions = [:]
            }
            return (s.connection, s.waiters.values, s.subscriptions.values)
        }
        supervisor.withLock { $0?.cancel() }
        connection?.close()
        for waiter in waiters { waiter.resume(throwing: NATSError.closed("the client was closed")) }
        for subscription in subscriptions { subscription.continuation.finish() }
    }

    // MARK: Operations

    public func publish(_ subject: String, payload: ByteBuffer, headers: NATSHeaders? = nil, replyTo: String? = nil) async throws {
        try await connection().publish(subject, payload: payload, headers: headers, replyTo: replyTo)
    }

    public func request(_ subject: String, payload: ByteBuffer, headers: NATSHeaders? = nil, timeout: Duration = .seconds(5)) async throws
        -> NATSMessage
    {
        try await connection().request(subject, payload: payload, headers: headers, timeout: timeout)
    }

    public func flush() async throws {
        try await connection().flush()
    }

    /// Messages on `subject` from now on, across reconnects (those published while disconnected
    /// are missed), until the sequence is dropped or the client closed.
    public func subscribe(_ subject: String, queueGroup: String? = nil) async throws -> AsyncStream<NATSMessage> {
        try NATSClientOperation.subscribe(subject: subject, queueGroup: queueGroup, subscriptionID: "0").validate()
        let (stream, continuation) = AsyncStream<NATSMessage>.makeStream()
        let (id, connection) = try state.withLock { s -> (Int, NATSConnection?) in
            guard !s.closed else { throw NATSError.closed("the client was closed") }
            s.nextSubscription += 1
            s.subscriptions[s.nextSubscription] = Subscription(subject: subject, queueGroup: queueGroup, continuation: continuation)
            return (s.nextSubscription, s.connection)
        }
        // Dropped by its reader: the server stops sending at once (no interest left behind,
        // which would also hide "no responders" from requesters).
        continuation.onTermination = { [weak self] _ in
            if let ended = self?.state.withLock({ $0.subscriptions.removeValue(forKey: id) })?.onConnection {
                Task { try? await ended.unsubscribe() }
            }
        }
        if let connection { try await forward(id, on: connection) }
        return stream
    }

    /// The connection once one is up (waiting up to `waitForConnection`).
    public func connection() async throws -> NATSConnection {
        if let connection = state.withLock({ $0.connection }), connection.isActive { return connection }
        let id = state.withLock { s in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        let timer = configuration.eventLoopGroup.any().scheduleTask(in: TimeAmount(configuration.waitForConnection)) {
            self.state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(
                throwing: NATSError.closed("no connection to \(self.configuration.url) within \(self.configuration.waitForConnection)"))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<NATSConnection, any Error>) in
                enum Next { case now(NATSConnection), fail(NATSError), wait }
                let next = state.withLock { s -> Next in
                    if s.closed { return .fail(.closed("the client was closed")) }
                    if let connection = s.connection, connection.isActive { return .now(connection) }
                    s.waiters[id] = continuation
                    return .wait
                }
                switch next {
                case .now(let connection): continuation.resume(returning: connection)
                case .fail(let error): continuation.resume(throwing: error)
                case .wait: break
                }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }

    // MARK: Staying connected

    private func keepConnected() async {
        var failures = 0
        var first = true
        while !Task.isCancelled {
            let connection: NATSConnection
            do {
                connection = try await NATSConnection.connect(
                    to: configuration.url, options: configuration.options, eventLoopGroup: configuration.eventLoopGroup)
            } catch {
                failures += 1
                if failures == 1 || failures % 20 == 0 {
                    logger.warning("NATS connection failed; retrying", metadata: ["url": "\(configuration.url)", "error": "\(error)"])
                }
                guard (try? await Task.sleep(for: backoff(failures))) != nil else { break }
                continue
            }
            failures = 0
            // Subscriptions first, so that nothing published on the new connection goes unseen
            // by a subscriber of this client; then the connection is handed out.
            let subscribed = Set(state.withLock { $0.subscriptions.keys })
            for id in subscribed { try? await forward(id, on: connection) }
            let (waiters, late, closed) = state.withLock { s in
                s.connection = connection
                if !first { s.reconnects += 1 }
                defer { s.waiters = [:] }
                return (s.waiters.values, s.subscriptions.keys.filter { !subscribed.contains($0) }, s.closed)
            }
            if closed {
                connection.close()
                break
            }
            if !first { logger.notice("NATS reconnected", metadata: ["url": "\(configuration.url)"]) }
            first = false
            for id in late { try? await forward(id, on: connection) }
            for waiter in waiters { waiter.resume(returning: connection) }
            let watchdog = Task { await watch(connection) }
            await connection.waitUntilEnded()
            watchdog.cancel()
            state.withLock { s in
                if s.connection === connection { s.connection = nil }
            }
            if !Task.isCancelled {
                logger.warning("NATS connection lost; reconnecting", metadata: ["error": "\(connection.endedBecause.map { "\($0)" } ?? "")"])
            }
        }
    }

    /// PINGs the connection every `pingInterval`; one whose PONG is later than `pingTimeout` is
    /// closed, which makes `keepConnected` connect again.
    private func watch(_ connection: NATSConnection) async {
        while connection.isActive {
            guard (try? await Task.sleep(for: configuration.pingInterval)) != nil else { return }
            let timeout = configuration.pingTimeout
            let answered = await withTaskGroup(of: Bool.self) { group in
                group.addTask { (try? await connection.flush()) != nil }
                group.addTask {
                    // Late, but only dead if nothing at all came meanwhile.
                    while (try? await Task.sleep(for: timeout / 4)) != nil {
                        if connection.silence >= timeout { return false }
                    }
                    return true
                }
                let first = await group.next() ?? false
                // Closing also ends the PING still waiting for its PONG.
                if !first { connection.close() }
                group.cancelAll()
                return first
            }
            if !answered {
                if connection.endedBecause == nil || !Task.isCancelled {
                    logger.warning("NATS server stopped answering PINGs; reconnecting", metadata: ["url": "\(configuration.url)"])
                }
                return
            }
        }
    }

    /// Subscribes `id` on `connection` and passes its messages on until the connection ends.
    private func forward(_ id: Int, on connection: NATSConnection) async throws {
        guard let subscription = state.withLock({ $0.subscriptions[id] }) else { return }
        let messages = try await connection.subscribe(subscription.subject, queueGroup: subscription.queueGroup)
        let kept = state.withLock { s -> Bool in
            guard s.subscriptions[id] != nil else { return false }
            s.subscriptions[id]?.onConnection = messages
            return true
        }
        guard kept else {
            try? await messages.unsubscribe()
            return
        }
        Task {
            for await message in messages {
                guard let target = self.state.withLock({ $0.subscriptions[id] }) else {
                    try? await messages.unsubscribe()
                    return
                }
                target.continuation.yield(message)
            }
        }
    }

    /// Between half and all of a doubling ceiling, capped: servers restarting together are not
    /// all called again at once.
    private func backoff(_ failures: Int) -> Duration {
        let base = configuration.reconnectBase.wholeMilliseconds
        let ceiling = min(configuration.reconnectCap.wholeMilliseconds, base << min(failures - 1, 20))
        return .milliseconds(Int64.random(in: ceiling / 2...max(ceiling / 2, ceiling)))
    }
}

extension Duration {
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
