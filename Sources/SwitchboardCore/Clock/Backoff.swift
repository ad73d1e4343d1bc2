/// Exponential backoff, the one formula every retry loop uses: after `attempt` failures
/// (1-based) the ceiling is `base × 2^(attempt−1)`, capped; with full jitter the wait is drawn
/// uniformly from zero to the ceiling (so many retriers spread out), without it the wait is the
/// ceiling.
public struct Backoff: Sendable, Hashable {
    public enum Jitter: Sendable, Hashable {
        case full
        case none
    }

    public var base: Duration
    public var cap: Duration
    public var jitter: Jitter

    public init(base: Duration, cap: Duration, jitter: Jitter = .full) {
        self.base = base
        self.cap = cap
        self.jitter = jitter
    }

    public func ceiling(afterAttempt attempt: Int) -> Duration {
        let baseMS = base.wholeMilliseconds
        let capMS = cap.wholeMilliseconds
        let exponent = min(max(attempt - 1, 0), 40)
        let (scaled, overflow) = baseMS.multipliedReportingOverflow(by: Int64(1) << exponent)
        return .milliseconds(overflow ? capMS : min(scaled, capMS))
    }

    /// How long to wait before the next try, drawn with `random` (`0...ceiling` milliseconds).
    public func delay(
        afterAttempt attempt: Int, random: (_ ceilingMS: Int64) -> Int64 = { Int64.random(in: 0...max(0, $0)) }
    ) -> Duration {
        let ceilingMS = ceiling(afterAttempt: attempt).wholeMilliseconds
        switch jitter {
        case .none: return .milliseconds(ceilingMS)
        case .full: return .milliseconds(min(max(random(ceilingMS), 0), ceilingMS))
        }
    }
}
