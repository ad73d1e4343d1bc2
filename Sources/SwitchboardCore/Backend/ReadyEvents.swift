/// What a backend shared by several processes reports about work made ready elsewhere.
public enum ReadyEvent: Sendable, Hashable {
    /// The feed is (again) live; anything may have happened while it was not.
    case connected
    /// A queue gained ready or due work (an enqueue, release, requeue, resume, retry, promotion).
    case queue(String)
}

/// A backend whose other clients (other servers on one Redis) change what is ready. The engine
/// follows the feed to wake its waiting leasers, and polls only while the feed is down.
public protocol ReadyEventSource: Sendable {
    /// Delivers events until the feed breaks (throws) or the calling task is cancelled (returns).
    func followReadyEvents(_ handle: @escaping @Sendable (ReadyEvent) -> Void) async throws
}
