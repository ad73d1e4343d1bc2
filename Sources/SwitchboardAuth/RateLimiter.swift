import Synchronization

/// A sustained request rate with a burst on top (a token bucket's refill rate and size).
public struct RateLimit: Sendable, Hashable {
    public var perSecond: Double
    public var burst: Int

    public init(perSecond: Double, burst: Int? = nil) {
        self.perSecond = perSecond
        self.burst = burst ?? max(1, Int(perSecond.rounded(.up)))
    }
}

/// Token buckets, one per principal name. Times come in as monotonic instants, so tests drive
/// them exactly. The map is bounded: principals idle long enough to have refilled are dropped
/// when it grows past `maxKeys` (only JWT subjects can make it grow; configured tokens are few).
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    private let maxKeys: Int

    public init(maxKeys: Int = 10_000) {
        self.maxKeys = maxKeys
    }

    /// Takes one request from `key`'s bucket: nil when admitted, else how long until one is.
    public func admit(_ key: String, limit: RateLimit, at now: ContinuousClock.Instant) -> Duration? {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: Double(limit.burst), updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            bucket.tokens = min(Double(limit.burst), bucket.tokens + max(0, seconds) * limit.perSecond)
            bucket.updated = max(bucket.updated, now)
            guard bucket.tokens >= 1 else {
                buckets[key] = bucket
                let wait = (1 - bucket.tokens) / max(limit.perSecond, 1e-9)
                return .milliseconds(Int64((wait * 1000).rounded(.up)))
            }
            bucket.tokens -= 1
            if buckets[key] == nil, buckets.count >= maxKeys { Self.dropFull(&buckets, now: now, limit: limit) }
            buckets[key] = bucket
            return nil
        }
    }

    /// Forgets buckets that have had time to refill completely: they would start full anyway.
    private static func dropFull(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant, limit: RateLimit) {
        let refill = Duration.seconds(Double(limit.burst) / max(limit.perSecond, 1e-9))
        buckets = buckets.filter { now - $0.value.updated < refill }
    }
}
