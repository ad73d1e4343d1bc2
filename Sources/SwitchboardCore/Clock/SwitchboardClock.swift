import Synchronization

/// Wall-clock time and sleeping, injectable so that tests move time by hand instead of waiting.
public protocol SwitchboardClock: Sendable {
    func now() -> Timestamp
    /// Returns at `deadline` (at once when it has passed); throws `CancellationError` when cancelled.
    func sleep(until deadline: Timestamp) async throws
    /// Time since some fixed point, unaffected when `now()` is stepped (NTP, an operator): for
    /// measuring how much time passed. By default `now()` itself, as for a test's clock.
    func elapsedTime() -> Duration
}

extension SwitchboardClock {
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: now() + duration)
    }

    public func elapsedTime() -> Duration { .milliseconds(now().milliseconds) }
}

/// The real clock: `CLOCK_REALTIME` for timestamps, the task sleep for waiting.
public struct SystemClock: SwitchboardClock {
    public init() {}

    public func now() -> Timestamp { .now() }

    public func elapsedTime() -> Duration { ContinuousClock.now - Self.origin }

    private static let origin = ContinuousClock.now

    public func sleep(until deadline: Timestamp) async throws {
        let remaining = deadline - now()
        if remaining > .zero {
            try await Task.sleep(for: remaining)
        } else {
            try Task.checkCancellation()
        }
    }
}
