import DequeModule
import SwitchboardCore
import Synchronization

/// The tasks this process leased, by lease id, so that completing one needs no read of the
/// task back from Redis: a completion changes only fields this process knows (status, times,
/// result). A lease completed elsewhere, or forgotten here, is simply a miss: the completion
/// then reads the task from Redis. Bounded: past `capacity`, the oldest entries go.
final class LeasedRecords: Sendable {
    private struct State {
        var records: [String: TaskRecord] = [:]
        var order = Deque<String>()
    }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int = 50_000) {
        self.capacity = capacity
    }

    func remember(_ leases: [TaskLease]) {
        state.withLock { s in
            for lease in leases {
                s.records[lease.leaseID] = lease.task
                s.order.append(lease.leaseID)
            }
            while s.order.count > capacity, let oldest = s.order.popFirst() {
                s.records[oldest] = nil
            }
            // Ids of leases already taken out pile up in `order`; compact when they dominate.
            if s.order.count > 2 * max(s.records.count, 1024) {
                s.order = Deque(s.order.filter { s.records[$0] != nil })
            }
        }
    }

    /// The leased task, forgotten as it is returned.
    func take(_ leaseID: String) -> TaskRecord? {
        state.withLock { $0.records.removeValue(forKey: leaseID) }
    }
}
