import Synchronization

/// Bounds that keep one careless or hostile producer from hurting everyone: how many distinct
/// queue names and task types a server takes (each becomes a metric label), and how deep a
/// queue may grow.
public struct AdmissionLimits: Sendable, Hashable {
    /// Distinct queue names this process takes; a new name beyond it is refused (422).
    public var maxQueueNames = 1000
    /// Distinct task types this process takes; a new type beyond it is refused (422).
    public var maxTaskTypes = 1000
    /// Tasks waiting in one queue (scheduled, pending, retrying) beyond which enqueues are
    /// refused (429); nil: no bound.
    public var maxQueueDepth: Int?

    public init() {}
}

/// Applies `AdmissionLimits` at enqueue. Names are counted as this process meets them (and the
/// queues the backend reports at each maintenance pass), so a restart forgets types that no
/// longer arrive. Depths are the backend's, as of the last maintenance pass, plus what this
/// process enqueued since; when that says "full" the backend is asked again before refusing,
/// so a queue that drained meanwhile is not refused. Servers sharing a backend may together
/// overshoot a depth by what they enqueue at the same moment.
final class Admission: Sendable {
    private struct State {
        var queues: Set<String> = []
        var types: Set<String> = []
        var waiting: [String: Int] = [:]
    }

    let limits: AdmissionLimits
    private let state = Mutex(State())

    init(limits: AdmissionLimits) {
        self.limits = limits
    }

    /// Refuses the batch when it brings a name beyond the bounds, or a queue past its depth
    /// (`refresh` reads the depths again before a refusal for depth).
    func admit(_ tasks: [NewTask], refresh: () async throws -> [QueueInfo]) async throws {
        try admitNames(tasks)
        guard let maxDepth = limits.maxQueueDepth else { return }
        var adding: [String: Int] = [:]
        for task in tasks { adding[task.record.queue, default: 0] += 1 }
        guard let full = overDepth(adding, maxDepth) else { return }
        record(depths: try await refresh())
        guard overDepth(adding, maxDepth) != nil else { return }
        throw SwitchboardError.overloaded("queue \(full) holds \(maxDepth) waiting tasks, its limit; try again later")
    }

    private func admitNames(_ tasks: [NewTask]) throws(SwitchboardError) {
        try state.withLock { state throws(SwitchboardError) in
            // Known names (nearly every task) are only looked up: the sets are not copied.
            var newQueues: [String] = []
            var newTypes: [String] = []
            var previous: (queue: String, type: String)?
            for task in tasks {
                let queue = task.record.queue
                let type = task.record.type
                // The tasks of a batch mostly share their queue and type: looked up once.
                if let previous, previous.queue == queue, previous.type == type { continue }
                previous = (queue, type)
                if !state.queues.contains(queue), !newQueues.contains(queue) {
                    newQueues.append(queue)
                    guard state.queues.count + newQueues.count <= limits.maxQueueNames else {
                        throw .invalid("queue \(queue) would be a new queue name beyond the server's limit of \(limits.maxQueueNames)")
                    }
                }
                if !state.types.contains(type), !newTypes.contains(type) {
                    newTypes.append(type)
                    guard state.types.count + newTypes.count <= limits.maxTaskTypes else {
                        throw .invalid("type \(type) would be a new task type beyond the server's limit of \(limits.maxTaskTypes)")
                    }
                }
            }
            state.queues.formUnion(newQueues)
            state.types.formUnion(newTypes)
        }
    }

    private func overDepth(_ adding: [String: Int], _ maxDepth: Int) -> String? {
        state.withLock { state in
            adding.first { queue, count in state.waiting[queue, default: 0] + count > maxDepth }?.key
        }
    }

    /// Tasks that were stored: they count towards their queue's depth until the next pass.
    func enqueued(_ tasks: some Sequence<TaskRecord>) {
        guard limits.maxQueueDepth != nil else { return }
        state.withLock { state in
            for task in tasks { state.waiting[task.queue, default: 0] += 1 }
        }
    }

    /// The backend's depths (each maintenance pass); its queues count as names met.
    func record(depths queues: [QueueInfo]) {
        state.withLock { state in
            for queue in queues {
                state.queues.insert(queue.name)
                state.waiting[queue.name] = (queue.depth[.scheduled] ?? 0) + (queue.depth[.pending] ?? 0) + (queue.depth[.retrying] ?? 0)
            }
        }
    }
}
