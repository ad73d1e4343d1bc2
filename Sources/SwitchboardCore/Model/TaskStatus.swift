/// Where a task is in its life (DESIGN.md §1).
///
/// `scheduled` (delayed, not due) → `pending` (ready) → `running` (leased) → `completed`,
/// `retrying` (waiting out its backoff, then `pending`) or `dead` (in the DLQ);
/// `scheduled`, `pending` and `retrying` can become `cancelled`.
public enum TaskStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case scheduled
    case pending
    case running
    case retrying
    case completed
    case dead
    case cancelled

    /// No transition leaves these except an operator's requeue (dead) or retention (the others).
    public var isFinished: Bool {
        switch self {
        case .completed, .dead, .cancelled: true
        default: false
        }
    }
}

extension TaskStatus {
    /// Its place in `allCases`, for per-state counts kept in an array.
    public var index: Int {
        switch self {
        case .scheduled: 0
        case .pending: 1
        case .running: 2
        case .retrying: 3
        case .completed: 4
        case .dead: 5
        case .cancelled: 6
        }
    }
}
