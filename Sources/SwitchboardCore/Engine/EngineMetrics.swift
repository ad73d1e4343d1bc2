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

    /// Tasks of a batch mostly share their queue and type: the handles of the previous task are
    /// reused while they do, so a batch costs one cache lookup instead of one per task.
    private struct LastLabels<Handle> {
        var queue = ""
        var type = ""
        var handle: Handle?

        mutating func handle(_ task: TaskRecord, make: () -> Handle) -> Handle {
            if let handle, task.queue == queue, task.type == type { return handle }
            let made = make()
            (queue, type, handle) = (task.queue, task.type, made)
            return made
        }
    }

    func enqueued(_ tasks: some Sequence<TaskRecord>) {
        var last = LastLabels<Counter>()
        for task in tasks {
            last.handle(task) { counter("switchboard_tasks_enqueued_total", ["queue": task.queue, "type": task.type]) }.increment()
        }
    }

    func leased(_ leases: [TaskLease], now: Timestamp) {
        var last = LastLabels<Timer>()
        for lease in leases {
            let wait = max(0, now.milliseconds - lease.readySince.milliseconds)
            last.handle(lease.task) { timer("switchboard_task_wait_seconds", ["queue": lease.task.queue, "type": lease.task.type]) }
                .recordMilliseconds(wait)
        }
    }

    /// Completions of a batch: as `attemptEnded` for each, with handles reused across the batch.
    func completed(_ tasks: some Sequence<TaskRecord>, now: Timestamp) {
        var durations = LastLabels<Timer>()
        var completions = LastLabels<Counter>()
        for task in tasks {
            if let started = task.startedAt {
                durations.handle(task) { timer("switchboard_task_duration_seconds", ["queue": task.queue, "type": task.type]) }
                    .recordMilliseconds(max(0, now.milliseconds - started.milliseconds))
            }
            completions.handle(task) { counter("switchboard_tasks_completed_total", ["queue": task.queue, "type": task.type]) }
                .increment()
        }
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

    /// 1 while maintenance passes reach the backend, 0 after one that could not (alerting on a
    /// Redis or NATS gone away without probing /readyz).
    func backend(up: Bool) {
        gauge("switchboard_backend_up", [:]).record(up ? 1 : 0)
    }

    func storage(bytes: Int64) {
        gauge("switchboard_storage_bytes", [:]).record(bytes)
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
