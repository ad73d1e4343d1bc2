import SwitchboardCore
import SwitchboardJSON

extension TaskTransitions {
    /// One completion, as the engine sends it: a batch of one. Tests read better with it; the
    /// protocol keeps the one batch-shaped call.
    public func complete(leaseID: String, result: RawJSON?, now: Timestamp) async throws -> TaskRecord {
        try await complete(batch: [LeaseCompletion(leaseID: leaseID, result: result)], now: now)[0].get()
    }

    /// A release that never passes the release limit.
    public func release(leaseID: String, now: Timestamp) async throws -> TaskRecord {
        try await release(leaseID: leaseID, now: now, maxReleases: .max) { _ in .bury }
    }
}
