import SwitchboardCore

/// One named check of a backend role's contract.
public struct BackendConformanceCheck: Sendable, CustomStringConvertible {
    public let role: BackendRole
    public let name: String
    let body: @Sendable (any TaskBackend) async throws -> Void

    init(_ role: BackendRole, _ name: String, _ body: @escaping @Sendable (any TaskBackend) async throws -> Void) {
        self.role = role
        self.name = name
        self.body = body
    }

    public var description: String { "\(role): \(name)" }

    /// Runs the check against `backend`. Checks use their own queue names and ids, so a
    /// backend's store may be shared between checks, but each check expects time to start at
    /// `Fixture.t0` for the tasks it creates.
    public func run(on backend: any TaskBackend) async throws {
        try await body(backend)
    }
}

/// The contract of each backend role (`TaskTransitions`, `TaskQueries`, `TaskMaintenance`, and
/// the optional abilities) as executable checks, one file per role: every backend (memory,
/// Redis, NATS) must pass the checks of every role it has, unchanged. Test targets run them
/// with `@Test(arguments: BackendConformance.checks)`, or `checks(for:)` for a backend that
/// leaves an optional ability out.
public enum BackendConformance {
    /// Every check of every role.
    public static let checks: [BackendConformanceCheck] =
        transitions + queries + maintenance + deadLetterAdministration + queuePausing + finishedTaskRetention + runListing

    /// The checks of the roles `backend` has.
    public static func checks(for backend: any TaskBackend) -> [BackendConformanceCheck] {
        let roles = BackendRole.roles(of: backend)
        return checks.filter { roles.contains($0.role) }
    }

    static func lease(
        _ b: any TaskBackend, _ queues: [String], max: Int = 1, at ms: Int64 = 0, worker: String = "w1",
        terms: LeaseTerms = Fixture.terms
    ) async throws -> [TaskLease] {
        try await b.lease(queues: queues, maxTasks: max, workerID: worker, terms: terms, now: Fixture.at(ms))
    }

    static func retry(at ms: Int64) -> @Sendable (TaskRecord) -> FailureDecision {
        { _ in .retry(at: Fixture.at(ms)) }
    }

    static let bury: @Sendable (TaskRecord) -> FailureDecision = { _ in .bury }

    static func deadLetters(_ b: any TaskBackend) throws -> any DeadLetterAdministration {
        try unwrap(b as? any DeadLetterAdministration, "the backend administers dead letters")
    }

    static func pausing(_ b: any TaskBackend) throws -> any QueuePausing {
        try unwrap(b as? any QueuePausing, "the backend pauses queues")
    }

    static func runs(_ b: any TaskBackend) throws -> any RunListing {
        try unwrap(b as? any RunListing, "the backend lists runs")
    }

    static func retention(_ b: any TaskBackend) throws -> any FinishedTaskRetention {
        try unwrap(b as? any FinishedTaskRetention, "the backend trims finished tasks")
    }
}
