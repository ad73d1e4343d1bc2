import CoreMetrics
import Metrics

/// Counts acquisitions by result (`switchboard_lock_acquisitions_total{result}`) around any
/// lock service, so every backend's locks are measured alike, and records grants and releases
/// as events when given a journal.
public struct MeteredLockService: LockService {
    public let base: any LockService
    private let acquired: Counter
    private let busy: Counter
    private let events: EventJournal?
    private let clock: any SwitchboardClock

    public init(
        _ base: any LockService, metricsFactory: any MetricsFactory = MetricsSystem.factory, events: EventJournal? = nil,
        clock: any SwitchboardClock = SystemClock()
    ) {
        self.base = base
        self.events = events
        self.clock = clock
        acquired = Counter(label: "switchboard_lock_acquisitions_total", dimensions: [("result", "acquired")], factory: metricsFactory)
        busy = Counter(label: "switchboard_lock_acquisitions_total", dimensions: [("result", "busy")], factory: metricsFactory)
    }

    public func acquire(key: String, holder: String, ttl: Duration, wait: Duration) async throws -> LockLease? {
        let lease = try await base.acquire(key: key, holder: holder, ttl: ttl, wait: wait)
        (lease == nil ? busy : acquired).increment()
        if let lease, let events {
            let now = clock.now()
            if events.isRecording(at: now) { events.append(EngineEvent(kind: .lockAcquired, at: now, lock: lease)) }
        }
        return lease
    }

    public func renew(key: String, holder: String, token: UInt64, ttl: Duration) async throws -> LockLease {
        try await base.renew(key: key, holder: holder, token: token, ttl: ttl)
    }

    public func release(key: String, holder: String, token: UInt64) async throws {
        try await base.release(key: key, holder: holder, token: token)
        if let events {
            let now = clock.now()
            if events.isRecording(at: now) {
                events.append(EngineEvent(kind: .lockReleased, at: now, lock: LockLease(key: key, holder: holder, token: token, expiresAt: now)))
            }
        }
    }

    public func lease(key: String) async throws -> LockLease? {
        try await base.lease(key: key)
    }

    public func leases() async throws -> [LockLease] {
        try await base.leases()
    }
}
