import SwitchboardCore

/// Locks kept in the SQLite file beside the tasks: the memory lock service's queueing and
/// hand-offs, with every grant, renewal and release committed before it is answered, so held
/// locks and the token counter survive a restart (a token is never given twice).
public final class SQLiteLockService: LockService {
    private let locks: MemoryLockService
    private let log: SQLiteCommitLog

    /// Locks in the same file as `backend`'s tasks, committed with them.
    public init(backend: SQLiteTaskBackend, clock: any SwitchboardClock = SystemClock(), limits: LockLimits = LockLimits()) throws {
        let stored = try backend.store.loadLocks()
        let now = clock.now()
        locks = MemoryLockService(
            clock: clock, limits: limits, held: stored.leases.filter { $0.expiresAt > now }, nextToken: stored.nextToken)
        log = backend.commitLog
    }

    public var limits: LockLimits { locks.limits }

    public func acquire(key: String, holder: String, ttl: Duration, wait: Duration) async throws -> LockLease? {
        guard let lease = try await locks.acquire(key: key, holder: holder, ttl: ttl, wait: wait) else { return nil }
        do {
            try await persist(key: key, lease: lease)
        } catch {
            // Not kept, so not granted: the next waiter may have it.
            try? await locks.release(key: key, holder: holder, token: lease.token)
            throw error
        }
        return lease
    }

    public func renew(key: String, holder: String, token: UInt64, ttl: Duration) async throws -> LockLease {
        let lease = try await locks.renew(key: key, holder: holder, token: token, ttl: ttl)
        try await persist(key: key, lease: lease)
        return lease
    }

    public func release(key: String, holder: String, token: UInt64) async throws {
        try await locks.release(key: key, holder: holder, token: token)
        try await persist(key: key, lease: nil, releasedToken: token)
    }

    public func lease(key: String) async throws -> LockLease? { try await locks.lease(key: key) }

    public func leases() async throws -> [LockLease] { try await locks.leases() }

    private func persist(key: String, lease: LockLease?, releasedToken: UInt64 = 0) async throws {
        if let refusal = log.refusal { throw refusal }
        let generation = log.generation
        log.appendLock(key: key, lease: lease, releasedToken: releasedToken)
        try await log.waitForCommit(since: generation)
    }
}
