import CoreMetrics
import HTTPTypes
import Hummingbird
import Metrics
import Prometheus
import Synchronization

/// The Prometheus side of the metrics: one registry, and a swift-metrics factory that gives
/// every family of the contract (DESIGN.md §4) its HELP text, so `/metrics` passes
/// `promtool check metrics` cleanly. Families outside the catalog go through the stock factory.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: any MetricsFactory

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.factory = HelpfulPrometheusFactory(registry: registry)
    }

    /// The whole registry in the Prometheus text format.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }

    static let help: [String: String] = [
        "switchboard_tasks_enqueued_total": "Tasks accepted by an enqueue (idempotent replays not counted).",
        "switchboard_tasks_completed_total": "Tasks completed.",
        "switchboard_tasks_failed_total": "Failed attempts: handler errors, timeouts and expired leases.",
        "switchboard_tasks_retried_total": "Failed attempts that were scheduled for a retry.",
        "switchboard_tasks_dead_total": "Tasks moved to the dead-letter queue.",
        "switchboard_task_duration_seconds": "Time from the start of an attempt to its completion or failure.",
        "switchboard_task_wait_seconds": "Time from a task becoming ready to it being leased.",
        "switchboard_queue_depth": "Tasks per queue and state, as of the last maintenance pass.",
        "switchboard_backend_up": "1 if the last maintenance pass reached the backend (Redis, NATS), 0 if it could not.",
        "switchboard_storage_bytes": "Bytes the backend's files take on this host (SQLite: the database and its write-ahead log), as of the last maintenance pass.",
        "switchboard_lease_expirations_total": "Leases that expired without a complete, fail or release.",
        "switchboard_workers": "Workers running in this process.",
        "switchboard_worker_slots_busy": "Execution slots busy across the workers of this process.",
        "switchboard_lock_acquisitions_total": "Lock acquisition attempts by result (acquired or busy).",
        "switchboard_locks_held": "Locks currently held.",
        "switchboard_http_requests_total": "HTTP requests by route, method and status.",
        "switchboard_http_request_duration_seconds": "HTTP request latency by route and method.",
    ]
}

struct HelpfulPrometheusFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    let fallback: PrometheusMetricsFactory

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        self.fallback = PrometheusMetricsFactory(registry: registry)
    }

    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60), .seconds(300),
    ]

    /// The whole name goes in `metricName`, so the descriptor yields exactly the contract's name.
    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        guard let help = ServerMetrics.help[label] else { return fallback.makeCounter(label: label, dimensions: dimensions) }
        return registry.makeCounter(descriptor: Self.descriptor(label, help), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        fallback.makeFloatingPointCounter(label: label, dimensions: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard !aggregate, let help = ServerMetrics.help[label] else {
            return fallback.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
        }
        return registry.makeGauge(descriptor: Self.descriptor(label, help), labels: dimensions)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        guard let help = ServerMetrics.help[label] else { return fallback.makeMeter(label: label, dimensions: dimensions) }
        return registry.makeGauge(descriptor: Self.descriptor(label, help), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        guard let help = ServerMetrics.help[label] else { return fallback.makeTimer(label: label, dimensions: dimensions) }
        return registry.makeDurationHistogram(descriptor: Self.descriptor(label, help), labels: dimensions, buckets: Self.latencyBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) { fallback.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { fallback.destroyFloatingPointCounter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { fallback.destroyRecorder(handler) }
    func destroyMeter(_ handler: any MeterHandler) { fallback.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { fallback.destroyTimer(handler) }
}

/// Counts requests and measures latency per route (the matched route pattern, so ids in paths
/// do not explode the label space), method and status.
final class HTTPMetrics: Sendable {
    private struct Key: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    private let factory: any MetricsFactory
    private let counters = Mutex<[Key: CoreMetrics.Counter]>([:])
    private let timers = Mutex<[Key: CoreMetrics.Timer]>([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    func record(route: String, method: String, status: Int, since start: ContinuousClock.Instant) {
        let counter = counters.withLock { counters in
            let key = Key(route: route, method: method, status: status)
            if let counter = counters[key] { return counter }
            let counter = CoreMetrics.Counter(
                label: "switchboard_http_requests_total",
                dimensions: [("route", route), ("method", method), ("status", String(status))], factory: factory)
            counters[key] = counter
            return counter
        }
        let timer = timers.withLock { timers in
            let key = Key(route: route, method: method, status: 0)
            if let timer = timers[key] { return timer }
            let timer = CoreMetrics.Timer(
                label: "switchboard_http_request_duration_seconds", dimensions: [("route", route), ("method", method)],
                factory: factory)
            timers[key] = timer
            return timer
        }
        counter.increment()
        timer.recordInterval(since: start)
    }
}

extension CoreMetrics.Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
