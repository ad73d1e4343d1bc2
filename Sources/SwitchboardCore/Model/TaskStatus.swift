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
