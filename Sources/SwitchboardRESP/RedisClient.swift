import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A few shared, pipelined connections to one Redis server, replaced when they die.
///
/// Commands go round-robin over `connectionCount` connections; each connection pipelines, so
/// no command waits for a free one. A dead connection is reconnected on next use; after a failed
/// connect, that slot tries no new connection until its backoff — doubling from `reconnectBase`
/// up to `reconnectCap`, with full jitter — has passed, and meanwhile hands its commands to
/// another slot's live connection, or refuses them at once (`RedisUnavailable`) when none is
/// live: callers fail cleanly while Redis is down and succeed again as soon as it is back.
public final class RedisClient: Sendable {
    public struct Configuration: Sendable {
        public var url: RedisURL
        public var connectionCount = 2
        public var commandTimeout: Duration = .seconds(10)
        public var connectTimeout: Duration = .seconds(5)
        public var reconnectBase: Duration = .milliseconds(50)
        public var reconnectCap: Duration = .seconds(5)
        /// For `rediss://` URLs. The default trusts the system's roots and checks the host name;
        /// `trustRoots = .file(path)` trusts a private CA instead.
        public var tls: TLSConfiguration = .makeClientConfiguration()

        public init(url: RedisURL) {
            self.url = url
        }
    }

    private enum Slot {
        case idle
        case connected(RESPConnection)
        case connecting(Task<RESPConnection, any Error>)
        case backingOff(until: ContinuousClock.Instant, failures: Int, error: String)
    }

    private struct State {
        var slots: [Slot]
        var failures: [Int]
        var next = 0
        var closed = false
    }

    public let configuration: Configuration
    private let eventLoopGroup: any EventLoopGroup
    private let state: Mutex<State>
    /// Built once (loading certificates is slow); the error, if it cannot be, is reported by
    /// every connection attempt.
    private let sslContext: Result<NIOSSLContext, any Error>?

    public init(_ configuration: Configuration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        precondition(configuration.connectionCount > 0)
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.state = Mutex(State(slots: Array(repeating: .idle, count: configuration.connectionCount),
                                 failures: Array(repeating: 0, count: configuration.connectionCount)))
        self.sslContext = configuration.url.tls ? Result { try NIOSSLContext(configuration: configuration.tls) } : nil
    }

    @discardableResult
    public func send(_ command: RESPCommand) async throws -> RESPValue {
        try await connection().send(command, timeout: configuration.commandTimeout)
    }

    public func pipeline(_ commands: [RESPCommand]) async throws -> [RESPValue] {
        try await connection().pipeline(commands, timeout: configuration.commandTimeout)
    }

    public func run(_ script: RedisScript, keys: [any RESPArgument], arguments: [any RESPArgument]) async throws -> RESPValue {
        try await script.run(on: connection(), keys: keys, arguments: arguments)
    }

    /// A connection of its own, for blocking commands (BLPOP) and subscriptions, which would
    /// hold up every command pipelined behind them on a shared connection. Closed afterwards.
    public func withDedicatedConnection<T: Sendable>(
        onPush: @escaping @Sendable (RESPValue) -> Void = { _ in },
        _ body: (RESPConnection) async throws -> T
    ) async throws -> T {
        let connection = try await RESPConnection.connect(
            to: configuration.url, eventLoopGroup: eventLoopGroup, connectTimeout: configuration.connectTimeout,
            tls: try sslContext?.get(), onPush: onPush)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Closes every connection; later commands fail.
    public func close() async {
        let slots = state.withLock { s in
            s.closed = true
            defer { s.slots = s.slots.map { _ in .idle } }
            return s.slots
        }
        for slot in slots {
            switch slot {
            case .connected(let connection): await connection.close()
            case .connecting(let task): task.cancel()
            default: break
            }
        }
    }

    /// The next slot's live connection, connecting it if needed.
    func connection() async throws -> RESPConnection {
        enum Step {
            case ready(RESPConnection)
            case wait(Task<RESPConnection, any Error>, Int)
            case refuse(String)
        }
        let now = ContinuousClock.now
        let step: Step = state.withLock { s in
            guard !s.closed else { return .refuse("the client is closed") }
            let index = s.next
            s.next = (s.next + 1) % s.slots.count
            switch s.slots[index] {
            case .connected(let connection) where connection.isActive:
                return .ready(connection)
            case .connecting(let task):
                return .wait(task, index)
            case .backingOff(let until, _, let error) where now < until:
                // Another slot may have its connection back already (Redis restarted): use it
                // rather than refuse while this one waits out its backoff.
                for slot in s.slots {
                    if case .connected(let connection) = slot, connection.isActive { return .ready(connection) }
                }
                return .refuse(error)
            default:
                let task = Task { [configuration, eventLoopGroup, sslContext] in
                    try await RESPConnection.connect(
                        to: configuration.url, eventLoopGroup: eventLoopGroup, connectTimeout: configuration.connectTimeout,
                        tls: try sslContext?.get())
                }
                s.slots[index] = .connecting(task)
                return .wait(task, index)
            }
        }
        switch step {
        case .ready(let connection):
            return connection
        case .refuse(let reason):
            throw RedisUnavailable(reason: reason)
        case .wait(let task, let index):
            do {
                let connection = try await task.value
                state.withLock { s in
                    s.failures[index] = 0
                    if case .connecting = s.slots[index] { s.slots[index] = .connected(connection) }
                }
                return connection
            } catch {
                let description = "\(configuration.url): \(error)"
                state.withLock { s in
                    s.failures[index] += 1
                    if case .connecting = s.slots[index] {
                        s.slots[index] = .backingOff(
                            until: ContinuousClock.now + backoff(failures: s.failures[index]), failures: s.failures[index],
                            error: description)
                    }
                }
                throw RedisUnavailable(reason: description)
            }
        }
    }

    /// Full jitter over `base × 2^(failures-1)`, capped: `SwitchboardCore.Backoff`'s formula,
    /// written again because this Redis client depends on nothing of Switchboard's.
    func backoff(failures: Int) -> Duration {
        let base = configuration.reconnectBase
        let ceiling = min(configuration.reconnectCap, base * (1 << min(max(failures - 1, 0), 20)))
        let ceilingNanos = ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        return .nanoseconds(Int64.random(in: 0...max(0, ceilingNanos)))
    }
}

/// Redis cannot be reached (now); the command was not sent.
public struct RedisUnavailable: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String

    public var description: String { "Redis is unavailable: \(reason)" }
}
