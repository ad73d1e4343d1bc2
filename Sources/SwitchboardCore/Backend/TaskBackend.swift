/// Storage for tasks: atomic state transitions and nothing else.
///
/// A backend owns no policy. It never decides whether a failure is retried, how long a backoff
/// is, or what the defaults are: the engine (`TaskEngine`) decides and passes the decision in,
/// either as a value or as a `decide` closure that the backend calls inside the transition so
/// that the read and the write stay one atomic step (one lock hold in memory, one script in Redis).
/// Times come in as `now`, so backends never read a clock and tests control time exactly.
///
/// What every backend must do is split by role, one protocol each, and `TaskBackend` is their
/// sum: `TaskTransitions` (a task's life), `TaskQueries` (reading without changing) and
/// `TaskMaintenance` (the timed work). What a backend may leave out are abilities of their own,
/// which the engine discovers with `as?` (as swift-jobs does with its optional driver
/// protocols): `DeadLetterAdministration`, `QueuePausing`, `FinishedTaskRetention`, and
/// `ReadyEventSource` for backends shared by several processes. The conformance suite
/// (`SwitchboardTesting.BackendConformance`) states each role's contract as executable checks.
public protocol TaskBackend: TaskTransitions, TaskQueries, TaskMaintenance {}

/// The roles a backend may have; the conformance suite runs the checks of those it has.
public enum BackendRole: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case transitions, queries, maintenance
    case deadLetterAdministration = "dead letters"
    case queuePausing = "pausing"
    case finishedTaskRetention = "retention"
    case runListing = "run listing"

    public var description: String { rawValue }

    /// The roles `backend` plays: the essential three, and each optional ability it conforms to.
    public static func roles(of backend: any TaskBackend) -> Set<BackendRole> {
        var roles: Set<BackendRole> = [.transitions, .queries, .maintenance]
        if backend is any DeadLetterAdministration { roles.insert(.deadLetterAdministration) }
        if backend is any QueuePausing { roles.insert(.queuePausing) }
        if backend is any FinishedTaskRetention { roles.insert(.finishedTaskRetention) }
        if backend is any RunListing { roles.insert(.runListing) }
        return roles
    }
}
