import DequeModule

/// Locks in this process. Waiters queue per key in arrival order; a release hands the lock to
/// the first waiter at once, and an expiry is noticed lazily (any call on the key), by the
/// waiters' own timers (each sleeps until the holder's expiry at most), and by `sweepExpired`.
///
/// Tokens come from one counter for all keys, which makes them strictly increasing per key
/// without keeping anything per key after a release.
public final class MemoryLockService: LockService {
    private struct Queued {
        var id: UInt64
        var holder: String
        var ttl: Duration
    }

    private struct State {
        var held: [String: LockLease] = [:]
        /// Waiters per key in arrival order (ids of waiters that gave up are skipped).
        var queued: [String: Deque<Queued>] = [:]
        var nextToken: UInt64 = 1
        var nextWaiterID: UInt64 = 0

        mutating func grant(_ key: String, to holder: String, ttl: Duration, now: Timestamp) -> LockLease {
            let lease = LockLease(key: key, holder: holder, token: nextToken, expiresAt: now + ttl)
            nextToken += 1
            held[key] = lease
            return lease
        }

        /// Whether `key` is free by `now` (its lease, if any, ran out).
        func isFree(_ key: String, now: Timestamp) -> Bool {
            held[key].map { $0.expiresAt <= now } ?? true
        }

        /// Drops the holder if its lease ran out and hands the key to the next waiter.
        mutating func expireIfNeeded(_ key: String, now: Timestamp, _ waiters: inout WaitableState<State, UInt64, Grant>.Waiters) {
            guard let lease = held[key], lease.expiresAt <= now else { return }
            held[key] = nil
            handOff(key, now: now, &waiters)
        }

        /// Grants the free `key` to the first waiter still waiting.
        mutating func handOff(_ key: String, now: Timestamp, _ waiters: inout WaitableState<State, UInt64, Grant>.Waiters) {
            while let next = queued[key]?.popFirst() {
                if queued[key]?.isEmpty == true { queued[key] = nil }
                let lease = LockLease(key: key, holder: next.holder, token: nextToken, expiresAt: now + next.ttl)
                if waiters.resume(tag: next.id, with: .granted(lease)) {
                    nextToken += 1
                    held[key] = lease
                    return
                }
            }
        }

        mutating func dropQueued(_ key: String, id: UInt64) {
            queued[key]?.removeAll { $0.id == id }
            if queued[key]?.isEmpty == true { queued[key] = nil }
        }
    }

    /// What a waiter is woken with.
    private enum Grant: Sendable {
        case granted(LockLease)
        case gaveUp
    }

    /// Waiters are tagged with their id.
    private let state = WaitableState<State, UInt64, Grant>(State())
    private let clock: any SwitchboardClock
    public let limits: LockLimits

    /// - Parameters:
    ///   - held: leases granted before (a durable store's, at start); expired ones are dropped
    ///     as they are found.
    ///   - nextToken: the first token to grant; above every token granted before.
    public init(
        clock: any SwitchboardClock = SystemClock(), limits: LockLimits = LockLimits(), held: [LockLease] = [], nextToken: UInt64 = 1
    ) {
        self.clock = clock
        self.limits = limits
        state.withLock { s in
            for lease in held { s.held[lease.key] = lease }
            s.nextToken = max(nextToken, (held.map(\.token).max() ?? 0) + 1)
        }
    }

    /// A cancelled wait ends with nil, or with the lease when it was granted in that instant
    /// (the caller gives it back: `LockService.acquire(…, unless:)`).
    public func acquire(key: String, holder: String, ttl: Duration, wait: Duration) async throws -> LockLease? {
        try limits.validate(key: key, holder: holder, ttl: ttl, wait: wait)
        let now = clock.now()
        // A free key nobody queues for is granted without looking at waiters (the common case).
        let quick = state.withLock { s -> LockLease? in
            guard s.held[key] == nil, s.queued[key] == nil else { return nil }
            return s.grant(key, to: holder, ttl: ttl, now: now)
        }
        if let quick { return quick }
        let granted = state.update { s, waiters -> LockLease? in
            s.expireIfNeeded(key, now: now, &waiters)
            guard s.held[key] == nil else { return nil }
            return s.grant(key, to: holder, ttl: ttl, now: now)
        }
        if let granted { return granted }
        guard wait > .zero else { return nil }
        return await waitForGrant(key: key, holder: holder, ttl: ttl, deadline: now + wait)
    }

    private enum WaitOutcome: Sendable {
        case granted(LockLease?)
        case timerStopped
    }

    /// Queues a waiter for `key` beside a timer that hands the key on at the holder's expiry and
    /// gives the waiter up at its deadline.
    private func waitForGrant(key: String, holder: String, ttl: Duration, deadline: Timestamp) async -> LockLease? {
        let id = state.withLock { s in
            s.nextWaiterID += 1
            return s.nextWaiterID
        }
        return await withTaskGroup(of: WaitOutcome.self) { group in
            group.addTask {
                let now = self.clock.now()
                let grant = await self.state.wait(for: id, cancelled: .gaveUp) { s -> Grant? in
                    // Freed since the first try: take it now rather than wait for a hand-off
                    // that already happened.
                    if s.isFree(key, now: now) { return .granted(s.grant(key, to: holder, ttl: ttl, now: now)) }
                    s.queued[key, default: Deque()].append(Queued(id: id, holder: holder, ttl: ttl))
                    return nil
                }
                if case .granted(let lease) = grant { return .granted(lease) }
                self.state.withLock { $0.dropQueued(key, id: id) }
                return .granted(nil)
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

    /// Sleeps until the holder's lease ends or the wait runs out, whichever is first; hands the
    /// key on at an expiry and gives up the waiter at its deadline.
    private func watchExpiry(key: String, waiterID: UInt64, deadline: Timestamp) async {
        while !Task.isCancelled {
            let wakeAt = state.withLock { s in min(deadline, s.held[key]?.expiresAt ?? deadline) }
            do { try await clock.sleep(until: wakeAt) } catch { return }
            let now = clock.now()
            state.update { s, waiters in
                s.expireIfNeeded(key, now: now, &waiters)
                if now >= deadline, waiters.resume(tag: waiterID, with: .gaveUp) { s.dropQueued(key, id: waiterID) }
            }
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
        let released = state.update { s, waiters -> Bool in
            guard let lease = s.held[key], lease.holder == holder, lease.token == token, lease.expiresAt > now else { return false }
            s.held[key] = nil
            if s.queued[key] != nil { s.handOff(key, now: now, &waiters) }
            return true
        }
        guard released else {
            throw SwitchboardError.conflict("lock \(key) is not held by \(holder) with token \(token) (released, expired or taken over)")
        }
    }

    public func lease(key: String) async throws -> LockLease? {
        let now = clock.now()
        return state.update { s, waiters in
            s.expireIfNeeded(key, now: now, &waiters)
            return s.held[key]
        }
    }

    public func leases() async throws -> [LockLease] {
        sweepExpired()
        return state.withLock { s in s.held.values.sorted { $0.key < $1.key } }
    }

    /// Drops every expired lease (handing keys on to waiters); returns how many it dropped.
    @discardableResult
    public func sweepExpired() -> Int {
        let now = clock.now()
        return state.update { s, waiters in
            let expired = s.held.values.filter { $0.expiresAt <= now }.map(\.key)
            for key in expired { s.expireIfNeeded(key, now: now, &waiters) }
            return expired.count
        }
    }
}
