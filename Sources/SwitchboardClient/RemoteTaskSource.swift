import SwitchboardAPI
import SwitchboardCore
import SwitchboardJSON

/// The `TaskSource` of a worker in another process: the lease protocol over REST. With it the
/// very same `Worker` type runs on any machine that can reach the server.
///
/// Problems come back as `SwitchboardError`, so the worker reads a stale lease (409) or an
/// unreachable server (503) exactly as it does in-process. A worker's own retry limit and delay
/// stay on the worker's side of the wire: the server applies the task's and its own.
public struct RemoteTaskSource: TaskSource {
    public let client: APIClient
    public init(client: APIClient) {
        self.client = client
    }

    public func lease(_ request: LeaseRequest) async throws -> [TaskLease] {
        try await mapped { try await client.lease(request) }
    }

    public func heartbeat(leaseID: String, extendBy: Duration?, workerID: String?) async throws -> HeartbeatStatus {
        try await mapped { try await client.heartbeat(leaseID: leaseID, extendBy: extendBy, workerID: workerID) }
    }

    public func complete(leaseID: String, result: RawJSON?) async throws -> TaskRecord {
        try await mapped { try await client.complete(leaseID: leaseID, result: result) }
    }

    /// One call per batch (the server takes up to 1,000), answered with statuses only.
    public func complete(leases completions: [LeaseCompletion]) async throws -> [(any Error)?] {
        var errors: [(any Error)?] = []
        errors.reserveCapacity(completions.count)
        for start in stride(from: 0, to: completions.count, by: LeaseCompletion.maxPerCall) {
            let chunk = completions[start..<min(start + LeaseCompletion.maxPerCall, completions.count)]
            do {
                let answers = try await mapped { try await client.complete(leases: Array(chunk)) }
                errors += answers.map { error in error.map { ($0 as? ProblemError)?.switchboardError ?? $0 } }
            } catch where !errors.isEmpty {
                // Earlier chunks went through: only this one's completions failed.
                errors += chunk.map { _ in error }
            }
        }
        return errors
    }

    /// Completions ride on lease calls: one request per batch instead of two.
    public var carriesCompletionsOnLease: Bool { true }

    /// One call: the server completes, then leases (`"complete"` in `POST /v1/leases`).
    public func lease(
        _ request: LeaseRequest, completing completions: [LeaseCompletion]
    ) async throws -> (leases: [TaskLease], completions: [(any Error)?]) {
        let answer = try await mapped { try await client.lease(request, completing: completions) }
        return (answer.leases, answer.completions.map { error in error.map { ($0 as? ProblemError)?.switchboardError ?? $0 } })
    }

    public func fail(leaseID: String, failure: TaskFailureReport) async throws -> TaskRecord {
        try await mapped {
            try await client.fail(
                leaseID: leaseID, error: failure.message, retryable: failure.retryable, maxRetries: failure.maxRetries,
                retryDelay: failure.retryDelay)
        }
    }

    public func release(leaseID: String, workerID: String?) async throws -> TaskRecord {
        try await mapped { try await client.release(leaseID: leaseID, workerID: workerID) }
    }

}

/// Locks through the REST API, for handlers of a remote worker.
public struct RemoteLockService: LockService {
    public let client: APIClient

    public init(client: APIClient) {
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
