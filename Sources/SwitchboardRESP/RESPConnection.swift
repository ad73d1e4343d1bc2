import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// One connection to a Redis server: pipelined commands, per-command deadlines, and the
/// handshake (HELLO 3 with AUTH, SELECT) done before it is handed out.
public final class RESPConnection: Sendable {
    public let channel: any Channel
    /// 3 when the server speaks RESP3 (Redis 6+), else 2.
    public let protocolVersion: Int
    private let requestIDs = Atomic<UInt64>(0)

    init(channel: any Channel, protocolVersion: Int) {
        self.channel = channel
        self.protocolVersion = protocolVersion
    }

    public var isActive: Bool { channel.isActive }

    /// Connects, then authenticates and selects the database from `url`. A `rediss://` URL
    /// speaks TLS with `tls` (by default: the system's trusted roots, hostname verified).
    public static func connect(
        to url: RedisURL,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        connectTimeout: Duration = .seconds(5),
        limits: RESPLimits = RESPLimits(),
        tls: NIOSSLContext? = nil,
        onPush: @escaping @Sendable (RESPValue) -> Void = { _ in }
    ) async throws -> RESPConnection {
        let sslContext: NIOSSLContext? = url.tls ? try (tls ?? NIOSSLContext(configuration: .makeClientConfiguration())) : nil
        // SNI and name checks take a host name; an address literal is checked against the
        // certificate's IP entries by the verification itself.
        let serverHostname: String? = url.host.isIPAddressLiteral ? nil : url.host
        let channel = try await ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(.milliseconds(connectTimeout.wholeMilliseconds))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            // Replies of a batch (a hundred leased tasks) run to tens of KiB; reading them in a
            // few large reads spares the decoder re-scanning a partial value after every small one.
            .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 65536, maximum: 1 << 20))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        let handler = try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname)
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder(limits: limits)))
                    try channel.pipeline.syncOperations.addHandler(RESPCommandHandler(onPush: onPush))
                }
            }
            .connect(host: url.host, port: url.port).get()
        return try await handshake(channel: channel, url: url)
    }

    /// Wraps a channel that already has the RESP handlers (tests use an in-memory channel).
    public static func handshake(channel: any Channel, url: RedisURL) async throws -> RESPConnection {
        let connection = RESPConnection(channel: channel, protocolVersion: 2)
        do {
            var hello: [any RESPArgument] = ["3"]
            if let password = url.password {
                hello += ["AUTH", url.user ?? "default", password]
            }
            let version: Int
            switch try await connection.sendRaw([RESPCommand("HELLO", hello)])[0] {
            case .error(let message) where message.hasPrefix("ERR unknown command") || message.hasPrefix("NOPROTO"):
                // Before Redis 6: RESP2, and AUTH on its own.
                if let password = url.password {
                    _ = try await connection.send(RESPCommand("AUTH", password))
                }
                version = 2
            case .error(let message):
                throw RedisError(message: message)
            default:
                version = 3
            }
            let ready = RESPConnection(channel: channel, protocolVersion: version)
            if url.database != 0 {
                _ = try await ready.send(RESPCommand("SELECT", url.database))
            }
            return ready
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// Sends one command; an error reply is thrown as `RedisError`.
    @discardableResult
    public func send(
        _ command: RESPCommand, timeout: Duration? = .seconds(10), whenCancelled: RESPCancellation = .abandon
    ) async throws -> RESPValue {
        let reply = try await sendRaw([command], timeout: timeout, whenCancelled: whenCancelled)[0]
        if case .error(let message) = reply { throw RedisError(message: message) }
        return reply
    }

    /// Sends all commands in one write and returns every reply in order; error replies are
    /// returned as `.error` values, not thrown, so one failing command does not hide the others.
    public func pipeline(
        _ commands: [RESPCommand], timeout: Duration? = .seconds(10), whenCancelled: RESPCancellation = .abandon
    ) async throws -> [RESPValue] {
        try await sendRaw(commands, timeout: timeout, whenCancelled: whenCancelled)
    }

    func sendRaw(
        _ commands: [RESPCommand], timeout: Duration? = .seconds(10), whenCancelled: RESPCancellation = .abandon
    ) async throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        if whenCancelled == .abandon { try Task.checkCancellation() }
        let loop = channel.eventLoop
        let id = requestIDs.add(1, ordering: .relaxed).newValue
        let promises = commands.map { _ in loop.makePromise(of: RESPValue.self) }
        let request = RESPRequest(
            id: id, commands: commands, promises: promises, timeout: timeout.map { .milliseconds($0.wholeMilliseconds) })
        channel.writeAndFlush(request).whenFailure { error in
            for promise in promises { promise.fail(error) }
        }
        @Sendable func replies() async throws -> [RESPValue] {
            var replies: [RESPValue] = []
            replies.reserveCapacity(promises.count)
            for promise in promises { replies.append(try await promise.futureResult.get()) }
            return replies
        }
        guard whenCancelled == .abandon else { return try await replies() }
        // The cancel event is sent after the write (both go through the channel's event loop in
        // the order sent), so it always finds the request it names.
        return try await withTaskCancellationHandler {
            try await replies()
        } onCancel: { [channel] in
            channel.triggerUserOutboundEvent(RESPCancel(id: id), promise: nil)
        }
    }

    /// Subscribes to `channels`. Needs RESP3, where the confirmation and every message arrive
    /// as pushes at the connection's `onPush` while other commands still work. Returns once the
    /// subscription is in place: the PING written behind it is answered after its confirmation.
    public func subscribe(_ channels: [String]) async throws {
        guard protocolVersion == 3 else {
            throw RedisError(message: "ERR subscriptions on this client need RESP3 (Redis 6 or later)")
        }
        let request = RESPRequest(
            id: requestIDs.add(1, ordering: .relaxed).newValue, commands: [RESPCommand("SUBSCRIBE", channels)], promises: [],
            timeout: nil)
        try await channel.writeAndFlush(request).get()
        try await send(RESPCommand("PING"))
    }

    /// Returns when the connection has closed, for whatever reason.
    public func waitUntilClosed() async {
        try? await channel.closeFuture.get()
    }

    public func close() async {
        try? await channel.close()
    }
}

/// What a caller's cancellation does to the command it waits for.
public enum RESPCancellation: Sendable, Hashable {
    /// The caller gets `CancellationError` at once (a read, a blocking wait); the reply is
    /// dropped when it comes and the connection stays usable.
    case abandon
    /// The caller waits for the reply as if not cancelled, within the deadline: for a command
    /// that changes state, whose outcome (a task leased, a lock won) the caller must learn so
    /// that it can give back what it no longer wants.
    case awaitReply
}

/// A Lua script run with EVALSHA; loaded on first use and again after the server answers
/// NOSCRIPT (a restart or SCRIPT FLUSH forgets scripts). Scripts change state, so they run
/// with `.awaitReply`.
public final class RedisScript: Sendable {
    public let source: String
    private let sha = Mutex<String?>(nil)

    public init(_ source: String) {
        self.source = source
    }

    public func run(on connection: RESPConnection, keys: [any RESPArgument], arguments: [any RESPArgument]) async throws -> RESPValue {
        for _ in 0..<2 {
            let digest: String
            if let known = sha.withLock({ $0 }) {
                digest = known
            } else {
                guard let loaded = try await connection.send(RESPCommand("SCRIPT", "LOAD", source), whenCancelled: .awaitReply).string else {
                    throw RESPConnectionError.unexpectedReply
                }
                sha.withLock { $0 = loaded }
                digest = loaded
            }
            let reply = try await connection.pipeline(
                [RESPCommand("EVALSHA", [digest, keys.count] + keys + arguments)], whenCancelled: .awaitReply)[0]
            if case .error(let message) = reply {
                if message.hasPrefix("NOSCRIPT") {
                    sha.withLock { $0 = nil }
                    continue
                }
                throw RedisError(message: message)
            }
            return reply
        }
        throw RedisError(message: "NOSCRIPT the script vanished twice while loading")
    }
}

extension Duration {
    fileprivate var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

extension String {
    /// An IPv4 or IPv6 address rather than a host name.
    var isIPAddressLiteral: Bool {
        contains(":") || (!isEmpty && allSatisfy { $0 == "." || $0.isASCII && $0.isNumber })
    }
}
