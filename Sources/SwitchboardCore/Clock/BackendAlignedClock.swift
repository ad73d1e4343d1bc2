import Synchronization

/// The engine's time when several servers share a backend with a clock of its own: the
/// backend's time as last measured (`TaskEngine.measureClockSkew`), advanced since by this
/// machine's monotonic clock.
///
/// Lease expiries are written by one server and compared by another; on their own wall clocks a
/// server running behind grants leases the others see as already short, and one running ahead
/// reaps live ones — and a clock stepped between two measurements would do either until the
/// next. On this clock every server dates leases on the backend's time line, to within half a
/// round trip of the last measurement plus the drift of a monotonic clock since, whatever its
/// wall clock says or does.
final class BackendAlignedClock: SwitchboardClock {
    let local: any SwitchboardClock
    /// The backend's time at a moment of the local monotonic clock (nil: not measured yet, the
    /// local wall clock is used).
    private let anchor = Mutex<(backend: Timestamp, elapsed: Duration)?>(nil)

    init(local: any SwitchboardClock) {
        self.local = local
    }

    func align(backendTime: Timestamp, atElapsed elapsed: Duration) {
        anchor.withLock { $0 = (backendTime, elapsed) }
    }

    func now() -> Timestamp {
        guard let anchor = anchor.withLock({ $0 }) else { return local.now() }
        return anchor.backend + (local.elapsedTime() - anchor.elapsed)
    }

    func elapsedTime() -> Duration { local.elapsedTime() }

    func sleep(until deadline: Timestamp) async throws {
        try await local.sleep(for: deadline - now())
    }
}
