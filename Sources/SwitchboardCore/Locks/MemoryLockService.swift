import DequeModule
import Synchronization

/// Locks in this process. Waiters queue per key in arrival order; a release hands the lock to
/// the first waiter at once, and an expiry is noticed lazily (any call on the key), by the
/// waiters' own timers (each sleeps until the holder's expiry at most), and by `sweepExpired`.
///
/// Tokens come from one counter for all keys, which makes them strictly increasing per key
/// without keeping anything per key after a release.
public final class MemoryLockService: LockService {
    private struct Waiter {
        var id: UInt64
        var holder: String
        var ttl: Duration
        var continuation: CheckedContinuation<LockLease?, Never>
    }

    private struct State {
        var held: [String: LockLease] = [:]
        var waiters: [String: Deque<Waiter>] = [:]
        var nextToken: UInt64 = 1
        var nextWaiterID: UInt64 = 0

        mutating func grant(_ key: String, to holder: String, ttl: Duration, now: Timestamp) -> LockLease {
            let lease = LockLease(key: key, holder: holder, token: nextToken, expiresAt: now + ttl)
            nextToken += 1
            held[key] = lease
            return lease
        }

        /// Drops the holder if its lease ran out and hands the key to the next waiter.
        /// Returns the resumption to run once the lock is released.
        mutating func expireIfNeeded(_ key: String, now: Timestamp) -> (() -> Void)? {
            guard let lease = held[key], lease.expiresAt <= now else { return nil }
            held[key] = nil
            return handOff(key, now: now)
        }

        mutating func handOff(_ key: String, now: Timestamp) -> (() -> Void)? {
            guard let waiter = waiters[key]?.popFirst() else { return nil }
            if waiters[key]?.isEmpty == true { waiters[key] = nil }
            let lease = grant(key, to: waiter.holder, ttl: waiter.ttl, now: now)
            return { waiter.continuation.resume(returning: lease) }
        }

        mutating func removeWaiter(_ key: String, id: UInt64) -> Waiter? {
            guard let index = waiters[key]?.firstIndex(where: { $0.id == id }) else { return nil }
            let waiter = waiters[key]!.remove(at: index)
            if waiters[key]?.isEmpty == true { waiters[key] = nil }
            return waiter
        }
    }

    private let state = Mutex(State())
    private let clock: any SwitchboardClock
    public let limits: LockLimits

    public init(clock: any SwitchboardClock = SystemClock(), limits: LockLimits = LockLimits()) {
        self.clock = clock
        self.limits = limits
    }

    public func acquire(key: String, holder: String, ttl: Duration, wait: Duration) async throws -> LockLease? {
        try limits.validate(key: key, holder: holder, ttl: ttl, wait: wait)
        let now = clock.now()
        let (granted, resume) = state.withLock { s -> (LockLease?, (() -> Void)?) in
            let resume = s.expireIfNeeded(key, now: now)
            guard s.held[key] == nil else { return (nil, resume) }
            return (s.grant(key, to: holder, ttl: ttl, now: now), resume)
        }
        resume?()
        if let granted { return granted }
        guard wait > .zero else { return nil }

        let lease = await waitForGrant(key: key, holder: holder, ttl: ttl, deadline: now + wait)
        if let lease, Task.isCancelled {
            try? await release(key: key, holder: holder, token: lease.token)
            throw CancellationError()
        }
        return lease
    }

    private enum WaitOutcome: Sendable {
        case granted(LockLease?)
        case timerStopped
    }

    private func waitForGrant(key: String, holder: String, ttl: Duration, deadline: Timestamp) async -> LockLease? {
        let id = state.withLock { s in
            s.nextWaiterID += 1
            return s.nextWaiterID
        }
        return await withTaskGroup(of: WaitOutcome.self) { group in
            group.addTask {
                .granted(await self.enqueueWaiter(id: id, key: key, holder: holder, ttl: ttl))
            }
            group.addTask {
                await self.watchExpiry(key: key, waiterID: id, deadline: deadline)
                return .timerStopped
            }
            for await outcome in group {
                if case .granted(let lease) = outcome {
                    group.cancelAll()
                    return lease
                }
            }
            return nil
        }
    }

    private func enqueueWaiter(id: UInt64, key: String, holder: String, ttl: Duration) async -> LockLease? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<LockLease?, Never>) in
                // A cancellation that came before this registration is seen here, under the lock.
                let cancelled = state.withLock { s in
                    if Task.isCancelled { return true }
                    s.waiters[key, default: Deque()].append(Waiter(id: id, holder: holder, ttl: ttl, continuation: continuation))
                    return false
                }
                if cancelled { continuation.resume(returning: nil) }
            }
        } onCancel: {
            state.withLock { $0.removeWaiter(key, id: id) }?.continuation.resume(returning: nil)
        }
    }

    /// Sleeps until the holder's lease ends or the wait runs out, whichever is first; hands the
    /// key on at an expiry and gives up the waiter at its deadline.
    private func watchExpiry(key: String, waiterID: UInt64, deadline: Timestamp) async {
        while !Task.isCancelled {
            let wakeAt = state.withLock { s in min(deadline, s.held[key]?.expiresAt ?? deadline) }
            do { try await clock.sleep(until: wakeAt) } catch { return }
            let now = clock.now()
            let resumes = state.withLock { s -> [() -> Void] in
                var resumes: [() -> Void] = []
                if let resume = s.expireIfNeeded(key, now: now) { resumes.append(resume) }
                if now >= deadline, let waiter = s.removeWaiter(key, id: waiterID) {
                    resumes.append { waiter.continuation.resume(returning: nil) }
                }
                return resumes
            }
            for resume in resumes { resume() }
            if now >= deadline { return }
        }
    }

    public func renew(key: String, holder: String, token: UInt64, ttl: Duration) async throws -> LockLease {
        try limits.validate(key: key, holder: holder, ttl: ttl)
        let now = clock.now()
        return try state.withLock { s throws(SwitchboardError) in
            guard var lease = s.held[key], lease.holder == holder, lease.token == token, lease.expiresAt > now else {
                throw .conflict("lock \(key) is not held by \(holder) with token \(token) (released, expired or taken over)")
            }
            lease.expiresAt = now + ttl
            s.held[key] = lease
            return lease
        }
    }

    public func release(key: String, holder: String, token: UInt64) async throws {
        try limits.validate(key: key, holder: holder)
        let now = clock.now()
        let resume = try state.withLock { s throws(SwitchboardError) -> (() -> Void)? in
            guard let lease = s.held[key], lease.holder == holder, lease.token == token, lease.expiresAt > now else {
                throw .conflict("lock \(key) is not held by \(holder) with token \(token) (released, expired or taken over)")
            }
            s.held[key] = nil
            return s.handOff(key, now: now)
        }
        resume?()
    }

    public func lease(key: String) async throws -> LockLease? {
        let now = clock.now()
        let (lease, resume) = state.withLock { s in
            let resume = s.expireIfNeeded(key, now: now)
            return (s.held[key], resume)
        }
        resume?()
        return lease
    }

    public func leases() async throws -> [LockLease] {
        sweepExpired()
        return state.withLock { s in s.held.values.sorted { $0.key < $1.key } }
    }

    /// Drops every expired lease (handing keys on to waiters); returns how many it dropped.
    @discardableResult
    public func sweepExpired() -> Int {
        let now = clock.now()
        let (count, resumes) = state.withLock { s -> (Int, [() -> Void]) in
            let expired = s.held.values.filter { $0.expiresAt <= now }.map(\.key)
            return (expired.count, expired.compactMap { s.expireIfNeeded($0, now: now) })
        }
        for resume in resumes { resume() }
        return count
    }
}
