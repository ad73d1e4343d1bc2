import Synchronization

/// A granted lock: who holds `key`, until when, and the fencing token of this grant.
public struct LockLease: Sendable, Hashable {
    public var key: String
    public var holder: String
    /// Strictly increases per key across grants: a resource that remembers the highest token it
    /// has seen can refuse a late write from a holder whose lease already ran out.
    public var token: UInt64
    public var expiresAt: Timestamp

    public init(key: String, holder: String, token: UInt64, expiresAt: Timestamp) {
        self.key = key
        self.holder = holder
        self.token = token
        self.expiresAt = expiresAt
    }
}

/// Distributed locks as leases with fencing tokens (DESIGN.md §1).
///
/// Locks are not reentrant: a holder that acquires a key it already holds waits like anyone else.
public protocol LockService: Sendable {
    /// Grants the lock, waiting up to `wait` for the current holder to release it or for its
    /// lease to expire; nil when it is still held after that.
    func acquire(key: String, holder: String, ttl: Duration, wait: Duration) async throws -> LockLease?
    /// Extends a lease still held by `holder` with `token`; otherwise `conflict`.
    func renew(key: String, holder: String, token: UInt64, ttl: Duration) async throws -> LockLease
    /// Releases a lease still held by `holder` with `token`, waking the next waiter; otherwise `conflict`.
    func release(key: String, holder: String, token: UInt64) async throws
    func lease(key: String) async throws -> LockLease?
    /// Every lease currently held, by key.
    func leases() async throws -> [LockLease]
}

/// The argument rules every lock service applies, so they answer bad input alike.
public struct LockLimits: Sendable, Hashable {
    public var maxKeyLength = 256
    public var maxHolderLength = 256
    public var minTTL: Duration = .milliseconds(1)
    public var maxTTL: Duration = .seconds(86_400)
    public var maxWait: Duration = .seconds(300)

    public init() {}

    public func validate(key: String, holder: String, ttl: Duration? = nil, wait: Duration? = nil) throws(SwitchboardError) {
        guard NamePattern.isPrintable(key, maxLength: maxKeyLength) else {
            throw .invalid("lock key must be 1-\(maxKeyLength) printable characters")
        }
        guard NamePattern.isPrintable(holder, maxLength: maxHolderLength) else {
            throw .invalid("holder must be 1-\(maxHolderLength) printable characters")
        }
        if let ttl, ttl < minTTL || ttl > maxTTL {
            throw .invalid("ttl_ms must be between \(minTTL.wholeMilliseconds) and \(maxTTL.wholeMilliseconds)")
        }
        if let wait, wait < .zero || wait > maxWait {
            throw .invalid("wait_ms must be between 0 and \(maxWait.wholeMilliseconds)")
        }
    }
}

/// The resource side of fencing: admits a write only when its token is at least the highest
/// one seen for that key, so a holder whose lease lapsed cannot overwrite its successor.
public final class FencingGuard: Sendable {
    private let highest = Mutex<[String: UInt64]>([:])

    public init() {}

    /// True, and remembers the token, when `token` is not older than any seen for `key`.
    public func admit(key: String, token: UInt64) -> Bool {
        highest.withLock { seen in
            if let top = seen[key], token < top { return false }
            seen[key] = token
            return true
        }
    }
}
