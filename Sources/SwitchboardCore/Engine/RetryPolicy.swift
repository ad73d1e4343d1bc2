/// The one place that decides what a failed attempt becomes (DESIGN.md §1): retried after an
/// exponential backoff with full jitter, capped, while attempts remain; otherwise dead.
public struct RetryPolicy: Sendable {
    /// The backoff before the first retry; doubles with each further attempt.
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Picks the actual delay in `0...ceiling` milliseconds. Full jitter by default; tests pin it.
    public var jitter: @Sendable (_ ceilingMS: Int64) -> Int64

    public init(
        baseDelay: Duration = .seconds(1),
        maxDelay: Duration = .seconds(600),
        jitter: @escaping @Sendable (_ ceilingMS: Int64) -> Int64 = { Int64.random(in: 0...max(0, $0)) }
    ) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.jitter = jitter
    }

    /// The backoff between attempts: `baseDelay` doubling per attempt, capped at `maxDelay`.
    public func backoff(base: Duration? = nil) -> Backoff {
        Backoff(base: base ?? baseDelay, cap: maxDelay)
    }

    /// `task.attempts` already counts the attempt that failed; `max_retries` retries follow the
    /// first attempt, so a task gets at most `1 + max_retries` attempts.
    public func decide(
        _ task: TaskRecord, retryable: Bool, now: Timestamp, maxRetries: Int? = nil, baseDelay: Duration? = nil
    ) -> FailureDecision {
        let allowed = min(task.maxRetries, maxRetries ?? task.maxRetries)
        guard retryable, task.attempts <= allowed else { return .bury }
        let delay = backoff(base: baseDelay).delay(afterAttempt: task.attempts, random: jitter)
        return .retry(at: now + delay)
    }
}
