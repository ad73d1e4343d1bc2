/// An optional ability: a backend shared by several servers that can tell the time of the store
/// they share (Redis's `TIME`). Lease expiries are written and compared on each server's own
/// clock, so a server whose clock runs ahead would reap leases that are still live: the engine
/// compares its clock with this one and does not reap while they differ by more than
/// `EngineConfiguration.maxClockSkew` (when set).
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
