/// An optional ability: a backend shared by several servers that can tell the time of the store
/// they share (Redis's `TIME`). Lease expiries are written by one server and compared by another,
/// so with `EngineConfiguration.maxClockSkew` set the engine measures its clock against this one
/// at start and on every maintenance pass, keeps its time on the backend's (`BackendAlignedClock`),
/// and does not reap while its own clock is more than the bound off.
public protocol ClockReference: Sendable {
    /// The store's time now.
    func referenceTime() async throws -> Timestamp
}

/// How far this server's clock is from its backend's, as last measured.
public struct ClockSkew: Sendable, Hashable {
    /// This server's clock minus the backend's (positive: this server runs ahead).
    public var skew: Duration
    /// The largest skew the engine reaps leases under.
    public var bound: Duration
    public var measuredAt: Timestamp

    public var isWithinBound: Bool { abs(skew.wholeMilliseconds) <= bound.wholeMilliseconds }

    public init(skew: Duration, bound: Duration, measuredAt: Timestamp) {
        self.skew = skew
        self.bound = bound
        self.measuredAt = measuredAt
    }
}
