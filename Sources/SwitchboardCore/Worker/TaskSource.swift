import SwitchboardJSON

/// Where a `Worker` gets its tasks and reports back. `TaskEngine` is one (in-process); the
/// REST client's remote source is another, so the same `Worker` runs in any process.
public protocol TaskSource: Sendable {
    /// Leases up to `request.maxTasks`, waiting up to `request.wait` for work.
    func lease(_ request: LeaseRequest) async throws -> [TaskLease]
    /// Extends the lease by `extendBy` (nil: the task's own lease length). `workerID` says who
    /// is beating, so a worker busy with long tasks is still seen as alive.
    func heartbeat(leaseID: String, extendBy: Duration?, workerID: String?) async throws -> HeartbeatStatus
    func complete(leaseID: String, result: RawJSON?) async throws -> TaskRecord
    /// Many completions at once, each succeeding or failing on its own: one answer each, in
    /// order, nil where it went through. Throws when none could be delivered (unreachable).
    func complete(leases completions: [LeaseCompletion]) async throws -> [(any Error)?]
    /// Completes `completions` (as `complete(leases:)`), then leases (as `lease(_:)`): a worker
    /// carries the tasks it finished on its next lease call, one round trip where the source
    /// can make it one. Throws when the completions could not be delivered.
    func lease(
        _ request: LeaseRequest, completing completions: [LeaseCompletion]
    ) async throws -> (leases: [TaskLease], completions: [(any Error)?])
    /// Whether `lease(_:completing:)` is one round trip. Only then does a worker carry its
    /// finished tasks on its lease calls: in-process, completing on the worker's separate
    /// reporting loop runs alongside leasing, which is faster than one after the other.
    var carriesCompletionsOnLease: Bool { get }
    func fail(leaseID: String, failure: TaskFailureReport) async throws -> TaskRecord
    /// Gives the task back without using up its attempt.
    func release(leaseID: String, workerID: String?) async throws -> TaskRecord
}

extension TaskSource {
    public var carriesCompletionsOnLease: Bool { false }

    /// Two calls. A lease that fails after the completions went through answers no tasks, so
    /// that the completions' outcomes are not lost with it (the next lease call says why).
    public func lease(
        _ request: LeaseRequest, completing completions: [LeaseCompletion]
    ) async throws -> (leases: [TaskLease], completions: [(any Error)?]) {
        let outcomes = completions.isEmpty ? [] : try await complete(leases: completions)
        guard !completions.isEmpty else { return (try await lease(request), []) }
        return ((try? await lease(request)) ?? [], outcomes)
    }

    public func complete(leases completions: [LeaseCompletion]) async throws -> [(any Error)?] {
        var errors: [(any Error)?] = []
        errors.reserveCapacity(completions.count)
        for completion in completions {
            do {
                _ = try await complete(leaseID: completion.leaseID, result: completion.result)
                errors.append(nil)
            } catch {
                errors.append(error)
            }
        }
        return errors
    }
}
