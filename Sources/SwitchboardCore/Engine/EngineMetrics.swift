import CoreMetrics
import Synchronization

/// The task metrics of DESIGN.md §4, through swift-metrics. Handles are created once per label
/// set and cached, so recording on the hot path is a dictionary hit, not a factory call.
final class EngineMetrics: Sendable {
    /// Every family of the engine has at most two labels; a fixed-size key avoids allocating
    /// an array per lookup on the hot path.
    private struct Key: Hashable {
        var name: String
        var first: String
        var second: String

        init(_ name: String, _ dimensions: KeyValuePairs<String, String>) {
            self.name = name
            first = dimensions.first?.value ?? ""
            second = dimensions.count > 1 ? dimensions[dimensions.index(after: dimensions.startIndex)].value : ""
        }
    }

    private let factory: any MetricsFactory
    private let counters = Mutex<[Key: Counter]>([:])
    private let timers = Mutex<[Key: Timer]>([:])
    private let gauges = Mutex<[Key: Gauge]>([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    func counter(_ name: String, _ dimensions: KeyValuePairs<String, String>) -> Counter {
        cached(in: counters, name, dimensions) { Counter(label: name, dimensions: $0, factory: factory) }
    }

    func timer(_ name: String, _ dimensions: KeyValuePairs<String, String>) -> Timer {
        cached(in: timers, name, dimensions) { Timer(label: name, dimensions: $0, factory: factory) }
    }

    func gauge(_ name: String, _ dimensions: KeyValuePairs<String, String>) -> Gauge {
        cached(in: gauges, name, dimensions) { Gauge(label: name, dimensions: $0, factory: factory) }
    }

    private func cached<Handle>(
        in cache: borrowing Mutex<[Key: Handle]>, _ name: String, _ dimensions: KeyValuePairs<String, String>,
        make: ([(String, String)]) -> Handle
    ) -> Handle {
        let key = Key(name, dimensions)
        return cache.withLock { cache in
            if let handle = cache[key] { return handle }
            let handle = make(dimensions.map { ($0.key, $0.value) })
            cache[key] = handle
            return handle
        }
    }

    // MARK: Events

    func enqueued(_ task: TaskRecord) {
        counter("switchboard_tasks_enqueued_total", ["queue": task.queue, "type": task.type]).increment()
    }

    func leased(_ lease: TaskLease, now: Timestamp) {
        let wait = max(0, now.milliseconds - lease.readySince.milliseconds)
        timer("switchboard_task_wait_seconds", ["queue": lease.task.queue, "type": lease.task.type])
            .recordMilliseconds(wait)
    }

    /// Records what a finished attempt (completion, failure or expiry) turned the task into.
    func attemptEnded(_ task: TaskRecord, now: Timestamp, failed: Bool) {
        let labels: KeyValuePairs<String, String> = ["queue": task.queue, "type": task.type]
        if let started = task.startedAt {
            timer("switchboard_task_duration_seconds", labels).recordMilliseconds(max(0, now.milliseconds - started.milliseconds))
        }
        if failed { counter("switchboard_tasks_failed_total", labels).increment() }
        switch task.status {
        case .completed: counter("switchboard_tasks_completed_total", labels).increment()
        case .retrying: counter("switchboard_tasks_retried_total", labels).increment()
        case .dead: counter("switchboard_tasks_dead_total", labels).increment()
        default: break
        }
    }

    func leaseExpired(queue: String) {
        counter("switchboard_lease_expirations_total", ["queue": queue]).increment()
    }

    func depth(_ queues: [QueueInfo]) {
        for queue in queues {
            for (status, count) in queue.depth {
                gauge("switchboard_queue_depth", ["queue": queue.name, "state": status.rawValue]).record(count)
            }
        }
    }
}
