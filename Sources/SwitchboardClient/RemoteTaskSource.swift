import SwitchboardCore

/// The `TaskSource` of a worker in another process: the lease protocol over REST. With it the
/// very same `Worker` type runs on any machine that can reach the server.
///
/// Problems come back as `SwitchboardError`, so the worker reads a stale lease (409) or an
/// unreachable server (503) exactly as it does in-process. A worker's own retry limit and delay
/// stay on the worker's side of the wire: the server applies the task's and its own.
public struct RemoteTaskSource: TaskSource {
    public let client: SwitchboardClient
    /// Completions that arrive while one batch is on the wire go out together in the next.
    private let completions = GroupCommit<Completion, TaskRecord>(maxBatch: 500)

    struct Completion: Sendable {
        var leaseID: String
        var result: RawJSON?
    }

    public init(client: SwitchboardClient) {
        self.client = client
    }

    public func lease(_ request: LeaseRequest) async throws -> [TaskLease] {
        try await mapped { try await client.lease(request) }
    }

    public func heartbeat(leaseID: String, extendBy: Duration?, workerID: String?) async throws -> HeartbeatStatus {
        try await mapped { try await client.heartbeat(leaseID: leaseID, extendBy: extendBy, workerID: workerID) }
    }

    public func complete(leaseID: String, result: RawJSON?) async throws -> TaskRecord {
        try await mapped {
            try await completions.submit(Completion(leaseID: leaseID, result: result)) { batch in
                // One completion alone takes the plain call; more share one batch call.
                guard batch.count > 1 else {
                    do {
                        return [.success(try await client.complete(leaseID: batch[0].leaseID, result: batch[0].result))]
                    } catch {
                        return [.failure(error)]
                    }
                }
                return try await client.complete(batch: batch.map { ($0.leaseID, $0.result) })
            }
        }
    }

    public func fail(leaseID: String, failure: TaskFailureReport) async throws -> TaskRecord {
        try await mapped { try await client.fail(leaseID: leaseID, error: failure.message, retryable: failure.retryable) }
    }

    public func release(leaseID: String, workerID: String?) async throws -> TaskRecord {
        try await mapped { try await client.release(leaseID: leaseID, workerID: workerID) }
    }

}

/// Locks through the REST API, for handlers of a remote worker.
public struct RemoteLockService: LockService {
    public let client: SwitchboardClient

    public init(client: SwitchboardClient) {
        self.client = client
    }

    public func acquire(key: String, holder: String, ttl: Duration, wait: Duration) async throws -> LockLease? {
        try await mapped { try await client.acquireLock(key: key, holder: holder, ttl: ttl, wait: wait) }
    }

    public func renew(key: String, holder: String, token: UInt64, ttl: Duration) async throws -> LockLease {
        try await mapped { try await client.renewLock(key: key, holder: holder, token: token, ttl: ttl) }
    }

    public func release(key: String, holder: String, token: UInt64) async throws {
        try await mapped { try await client.releaseLock(key: key, holder: holder, token: token) }
    }

    public func lease(key: String) async throws -> LockLease? {
        try await mapped { try await client.lock(key: key) }
    }

    public func leases() async throws -> [LockLease] {
        try await mapped { try await client.locks() }
    }

}

/// Runs a client call, its problems read as the engine's errors, so code written against the
/// engine (the `Worker`, a handler's locks) reads a stale lease (409) or a server that cannot
/// answer (503) exactly as in-process.
private func mapped<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let problem as ProblemError {
        throw problem.switchboardError ?? SwitchboardError.unavailable(problem.description)
    }
}
