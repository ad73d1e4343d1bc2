/// Someone waiting for a grant (tasks to run, a lock) who may leave before it comes: a worker
/// that stops, an HTTP client that goes away, a server that starts shutting down.
public protocol CallerPresence: Sendable {
    /// Returns once the caller has left, or when the calling task is cancelled.
    func left() async
    /// Whether the caller has left by now.
    var hasLeft: Bool { get async }
}

extension Latch: CallerPresence {
    public func left() async { await wait() }
    public var hasLeft: Bool { isOpen }
}

/// The one waiting path of the package: "try now; if nothing, wait until woken or the deadline;
/// if the caller left meanwhile, give back what it was granted". Leasing and lock acquisition
/// (`TaskSource.lease(_:unless:)`, `LockService.acquire(…, unless:)`) are this, and the worker's
/// lease loop and the lease and lock routes call those.
///
/// `grant` is the waiting call itself (it waits until woken or its deadline, and ends early,
/// empty, when cancelled). It runs beside `presence.left()`; when the caller leaves first, the
/// grant is cancelled and whatever it granted in that instant is given back, and so is a grant
/// that comes while the caller is already gone. Nil: the caller left.
public func waitForGrant<Grant: Sendable>(
    unless presence: some CallerPresence,
    _ grant: @escaping @Sendable () async throws -> Grant,
    giveBack: @escaping @Sendable (Grant) async -> Void
) async throws -> Grant? {
    let first = await withTaskGroup(of: GrantOutcome<Grant>.self) { group in
        group.addTask {
            do { return .granted(try await grant()) } catch { return .failed(error) }
        }
        group.addTask {
            await presence.left()
            return .left
        }
        let first = await group.next()!
        group.cancelAll()
        if case .left = first {
            // The grant, cancelled, may still have granted something in that instant.
            while let late = await group.next() {
                if case .granted(let granted) = late { await giveBack(granted) }
            }
        }
        return first
    }
    switch first {
    case .granted(let granted):
        guard await !presence.hasLeft else {
            await giveBack(granted)
            return nil
        }
        return granted
    case .failed(let error):
        throw error
    case .left:
        return nil
    }
}

private enum GrantOutcome<Grant: Sendable>: Sendable {
    case granted(Grant)
    case failed(any Error)
    case left
}

extension TaskSource {
    /// Leases as `lease(_:)`, and ends early, empty, when the caller leaves; tasks leased for a
    /// caller that left are released at once (no attempt used). A busy queue answers from the
    /// first, immediate try, without setting up the wait (`tryAtOnce` false: the caller just did).
    public func lease(_ request: LeaseRequest, unless presence: some CallerPresence, tryAtOnce: Bool = true) async throws -> [TaskLease] {
        if tryAtOnce || request.wait <= .zero {
            var immediate = request
            immediate.wait = .zero
            let ready = try await lease(immediate)
            if !ready.isEmpty || request.wait <= .zero { return ready }
        }
        let workerID = request.workerID
        return try await waitForGrant(unless: presence) {
            try await self.lease(request)
        } giveBack: { leases in
            for lease in leases { _ = try? await self.release(leaseID: lease.leaseID, workerID: workerID) }
        } ?? []
    }
}

extension LockService {
    /// Acquires as `acquire(key:holder:ttl:wait:)` (which tries at once before it waits), and
    /// ends early, with nil, when the caller leaves; a lock won for a caller that left is
    /// released at once.
    public func acquire(key: String, holder: String, ttl: Duration, wait: Duration, unless presence: some CallerPresence) async throws -> LockLease? {
        guard wait > .zero else { return try await acquire(key: key, holder: holder, ttl: ttl, wait: wait) }
        return try await waitForGrant(unless: presence) {
            try await self.acquire(key: key, holder: holder, ttl: ttl, wait: wait)
        } giveBack: { lease in
            if let lease { try? await self.release(key: lease.key, holder: lease.holder, token: lease.token) }
        } ?? nil
    }
}
