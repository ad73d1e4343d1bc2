import Synchronization

/// The engine's time when several servers share a backend with a clock of its own: this
/// machine's clock less its last measured skew from the backend's (`TaskEngine.measureClockSkew`).
///
/// Lease expiries are written by one server and compared by another; on their own clocks a
/// server running behind grants leases the others see as already short, and one running ahead
/// reaps live ones. On this clock every server dates leases on the backend's time line, to
/// within half a round trip of the last measurement, whatever its own clock says.
final class BackendAlignedClock: SwitchboardClock {
    let local: any SwitchboardClock
    /// The local clock minus the backend's, as last measured.
    private let skew = Mutex<Duration>(.zero)

    init(local: any SwitchboardClock) {
        self.local = local
    }

    func align(skew measured: Duration) {
        skew.withLock { $0 = measured }
    }

    func now() -> Timestamp { local.now() - skew.withLock { $0 } }

    func sleep(until deadline: Timestamp) async throws {
        try await local.sleep(until: deadline + skew.withLock { $0 })
    }
}
