import NIOCore
import SwitchboardCore
import SwitchboardRESP

/// Locks in Redis, shared by every server on it (DESIGN.md §1).
///
/// A lock is one key, `sb:lock:{<key>}` (`sb` being the default prefix), holding
/// `<token>:<holder>` with a PX expiry; its fence counter `sb:lock:{<key>}:fence` is INCRed in
/// the same script that SETs, only when the SET happens, so tokens strictly increase per key for
/// as long as Redis keeps the counter (across restarts with persistence). Renew and release
/// compare token and holder inside a script. A release pushes onto `sb:lock:{<key>}:wake`, where
/// waiting acquirers block (BLPOP on a dedicated connection), so a waiter is woken at once; a
/// holder's expiry is caught by the waiter's BLPOP timeout, which never outlasts the lock's
/// remaining TTL. The hash tag keeps the three keys of a lock in one cluster slot. `sb:lock:held`
/// (a zset of keys by expiry, on Redis's clock) lets the operator's list of held locks read only
/// the locks, never SCAN the keyspace.
public final class RedisLockService: LockService {
    public let client: RedisClient
    public let limits: LockLimits
    private let clock: any SwitchboardClock

    /// `<prefix>:lock:`, the prefix being the one the task backend uses.
    private let prefix: String

    public init(
        client: RedisClient, prefix: String = "sb", limits: LockLimits = LockLimits(), clock: any SwitchboardClock = SystemClock()
    ) {
        self.client = client
        self.prefix = prefix + ":lock:"
        self.limits = limits
        self.clock = clock
    }

    struct Keys {
        var lock: String
        var fence: String
        var wake: String
        /// The index of held locks.

        var held: String

        init(_ key: String, prefix: String) {
            lock = "\(prefix){\(key)}"
            held = prefix + "held"
            fence = lock + ":fence"
            wake = lock + ":wake"
        }
    }

    /// Redis's own clock in ms, so every server's view of the held-lock index agrees.
    private static let redisNow = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

        """

    /// KEYS: lock, fence, held. ARGV: holder, ttl ms.
    static let acquireScript = RedisScript(redisNow + """
        if redis.call('EXISTS', KEYS[1]) == 1 then return {0, redis.call('PTTL', KEYS[1])} end
        local token = redis.call('INCR', KEYS[2])
        redis.call('SET', KEYS[1], token .. ':' .. ARGV[1], 'PX', ARGV[2])
        redis.call('ZADD', KEYS[3], string.format('%.0f', now + tonumber(ARGV[2])), KEYS[1])
        return {token, tonumber(ARGV[2])}
        """)

    /// KEYS: lock, held. ARGV: holder, token, ttl ms.
    static let renewScript = RedisScript(redisNow + """
        if redis.call('GET', KEYS[1]) ~= ARGV[2] .. ':' .. ARGV[1] then return 0 end
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        redis.call('ZADD', KEYS[2], string.format('%.0f', now + tonumber(ARGV[3])), KEYS[1])
        return 1
        """)

    /// KEYS: lock, wake, held. ARGV: holder, token.
    static let releaseScript = RedisScript("""
        if redis.call('GET', KEYS[1]) ~= ARGV[2] .. ':' .. ARGV[1] then return 0 end
        redis.call('DEL', KEYS[1])
        redis.call('ZREM', KEYS[3], KEYS[1])
        redis.call('RPUSH', KEYS[2], '1')
        redis.call('PEXPIRE', KEYS[2], 5000)
        return 1
        """)

    /// KEYS: held. Drops expired entries; returns the lock keys still held.
    static let heldScript = RedisScript(redisNow + """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        return redis.call('ZRANGE', KEYS[1], 0, -1)
        """)

    public func acquire(key: String, holder: String, ttl: Duration, wait: Duration) async throws -> LockLease? {
        try limits.validate(key: key, holder: holder, ttl: ttl, wait: wait)
        let keys = Keys(key, prefix: prefix)
        let deadline = ContinuousClock.now + wait
        if let lease = try await tryAcquire(key, keys, holder: holder, ttl: ttl).lease { return lease }
        guard wait > .zero else { return nil }
        // A wait cancelled anywhere (even while its connection is being opened) ends empty.
        do {
            return try await waitToAcquire(key, keys, holder: holder, ttl: ttl, until: deadline)
        } catch where Task.isCancelled {
            return nil
        }
    }

    private func waitToAcquire(_ key: String, _ keys: Keys, holder: String, ttl: Duration, until deadline: ContinuousClock.Instant) async throws -> LockLease? {
        try await call { try await client.withDedicatedConnection { connection in
            while true {
                let attempt = try await tryAcquire(key, keys, holder: holder, ttl: ttl)
                if let lease = attempt.lease { return lease }
                let remaining = deadline - ContinuousClock.now
                guard remaining > .zero else { return nil }
                // Block until a release pushes a wake-up, the holder's TTL runs out, or the wait does.
                // Cancelling the wait (a shutting-down server) abandons it; the dedicated
                // connection, still blocked in Redis, is closed on the way out.
                let block = min(remaining, .milliseconds(max(attempt.remainingTTL, 1)))
                _ = try await connection.send(RESPCommand("BLPOP", keys.wake, Self.seconds(block)), timeout: block + .seconds(5))
            }
        } }
    }

    private func tryAcquire(_ key: String, _ keys: Keys, holder: String, ttl: Duration) async throws -> (lease: LockLease?, remainingTTL: Int64) {
        let reply = try await call { try await client.run(Self.acquireScript, keys: [keys.lock, keys.fence, keys.held], arguments: [holder, ttl.wholeMilliseconds]) }
        guard let values = reply.array, values.count == 2, let token = values[0].int, let pttl = values[1].int else {
            throw RESPConnectionError.unexpectedReply
        }
        guard token > 0 else { return (nil, pttl) }
        let lease = LockLease(key: key, holder: holder, token: UInt64(token), expiresAt: clock.now() + ttl)
        return (lease, pttl)
    }

    public func renew(key: String, holder: String, token: UInt64, ttl: Duration) async throws -> LockLease {
        try limits.validate(key: key, holder: holder, ttl: ttl)
        let keys = Keys(key, prefix: prefix)
        let reply = try await call { try await client.run(Self.renewScript, keys: [keys.lock, keys.held], arguments: [holder, token, ttl.wholeMilliseconds]) }
        guard reply.int == 1 else {
            throw SwitchboardError.conflict("lock \(key) is not held by \(holder) with token \(token) (released, expired or taken over)")
        }
        return LockLease(key: key, holder: holder, token: token, expiresAt: clock.now() + ttl)
    }

    public func release(key: String, holder: String, token: UInt64) async throws {
        try limits.validate(key: key, holder: holder)
        let keys = Keys(key, prefix: prefix)
        let reply = try await call { try await client.run(Self.releaseScript, keys: [keys.lock, keys.wake, keys.held], arguments: [holder, token]) }
        guard reply.int == 1 else {
            throw SwitchboardError.conflict("lock \(key) is not held by \(holder) with token \(token) (released, expired or taken over)")
        }
    }

    public func lease(key: String) async throws -> LockLease? {
        let keys = Keys(key, prefix: prefix)
        return try await lease(key: key, lockKey: keys.lock)
    }

    private func lease(key: String, lockKey: String) async throws -> LockLease? {
        let replies = try await call { try await client.pipeline([RESPCommand("GET", lockKey), RESPCommand("PTTL", lockKey)]) }
        guard let value = replies[0].string, let pttl = replies[1].int, pttl > 0,
            let colon = value.firstIndex(of: ":"), let token = UInt64(value[..<colon])
        else { return nil }
        return LockLease(
            key: key, holder: String(value[value.index(after: colon)...]), token: token, expiresAt: clock.now() + .milliseconds(pttl))
    }

    /// Every held lock, from the index of held locks.
    public func leases() async throws -> [LockLease] {
        let reply = try await call { try await client.run(Self.heldScript, keys: [prefix + "held"], arguments: []) }
        guard let keys = reply.array?.compactMap(\.string) else { throw RESPConnectionError.unexpectedReply }
        var found: [LockLease] = []
        for lockKey in keys where lockKey.hasPrefix(prefix + "{") && lockKey.hasSuffix("}") {
            let name = String(lockKey.dropFirst(prefix.count + 1).dropLast())
            if let lease = try await lease(key: name, lockKey: lockKey) { found.append(lease) }
        }
        return found.sorted { $0.key < $1.key }
    }
}

extension RedisLockService {
    /// Seconds with millisecond precision ("1.250"), as BLPOP takes them; never "0", which
    /// would block forever.
    static func seconds(_ duration: Duration) -> String {
        let millis = max(duration.wholeMilliseconds, 1)
        let fraction = String(millis % 1000)
        return "\(millis / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}
