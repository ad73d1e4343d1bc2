import HeapModule

/// The longest-waiting ready task of a queue, for its latency (`QueueInfo.oldestPendingSince`),
/// beside a ready heap that orders by priority first and so cannot say. Entries are not removed
/// when their task is leased: they are skipped when found stale at the top, and all stale ones
/// are dropped at once when they outnumber the live ones (a starving low-priority task at the
/// top must not let them pile up).
public struct OldestReady<Ref> {
    public struct Entry: Comparable {
        public var since: Timestamp
        public var order: UInt64
        public var ref: Ref

        public static func < (a: Entry, b: Entry) -> Bool { a.since != b.since ? a.since < b.since : a.order < b.order }
        public static func == (a: Entry, b: Entry) -> Bool { a.since == b.since && a.order == b.order }
    }

    private var heap = Heap<Entry>()

    public init() {}

    /// Records a task made ready; `liveCount` (the queue's pending count) bounds the stale ones.
    public mutating func insert(since: Timestamp, order: UInt64, ref: Ref, liveCount: Int, isLive: (Entry) -> Bool) {
        heap.insert(Entry(since: since, order: order, ref: ref))
        if heap.count >= 64, heap.count > 2 * liveCount {
            heap = Heap(heap.unordered.filter(isLive))
        }
    }

    /// When the oldest live entry became ready; drops the stale ones above it.
    public mutating func oldest(isLive: (Entry) -> Bool) -> Timestamp? {
        while let top = heap.min {
            if isLive(top) { return top.since }
            _ = heap.popMin()
        }
        return nil
    }
}

extension OldestReady: Sendable where Ref: Sendable {}
extension OldestReady.Entry: Sendable where Ref: Sendable {}
