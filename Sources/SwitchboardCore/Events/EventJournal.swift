import DequeModule

/// The last events of this server, numbered, in a bounded ring: a reader asks for those after
/// the last id it saw (SSE's `Last-Event-ID`) and learns when some were dropped before it read
/// them (then it reloads what it shows). Readers are woken by `append`, never polled, and a
/// slow reader costs nothing but the ring: nothing is queued per reader.
public final class EventJournal: Sendable {
    public struct Numbered: Sendable {
        public var id: UInt64
        public var event: EngineEvent
    }

    /// What a reader gets: the events after its id, and whether any it had not seen were dropped.
    public struct Reading: Sendable {
        public var events: [Numbered]
        public var missed: Bool
        /// The id of the newest event (0: none yet); where a reader resumes when it saw everything.
        public var head: UInt64
    }

    struct Ring: Sendable {
        var events = Deque<Numbered>()
        var head: UInt64 = 0
    }

    /// Names this run of the server: ids of another run (before a restart) mean events were lost.
    public let epoch: String
    public let capacity: Int
    private let ring: WaitableState<Ring, UInt64, Void>

    public init(capacity: Int = 10_000, epoch: String) {
        self.capacity = capacity
        self.epoch = epoch
        ring = WaitableState(Ring())
    }

    public var isEnabled: Bool { capacity > 0 }

    public func append(_ event: EngineEvent) {
        append(CollectionOfOne(event))
    }

    public func append(_ events: some Collection<EngineEvent>) {
        guard capacity > 0, !events.isEmpty else { return }
        ring.update { ring, waiters in
            for event in events {
                ring.head += 1
                ring.events.append(Numbered(id: ring.head, event: event))
            }
            if ring.events.count > capacity { ring.events.removeFirst(ring.events.count - capacity) }
            let head = ring.head
            waiters.resume { after in after < head ? () : nil }
        }
    }

    /// The events after `id` (nil: none, only the head), at most `limit`.
    public func read(after id: UInt64?, limit: Int = 1000) -> Reading {
        ring.withLock { ring in
            guard let id else { return Reading(events: [], missed: false, head: ring.head) }
            // An id from the future is another run's (the ids restarted): everything was missed.
            guard id <= ring.head else { return Reading(events: [], missed: true, head: ring.head) }
            let oldest = ring.events.first?.id ?? ring.head + 1
            let missed = id + 1 < oldest
            let start = max(Int(id + 1) - Int(oldest), 0)
            let end = min(start + limit, ring.events.count)
            return Reading(events: start < end ? Array(ring.events[start..<end]) : [], missed: missed, head: ring.head)
        }
    }

    /// Readers waiting now.
    public var waiterCount: Int { ring.waiterCount }

    /// Returns once an event after `id` exists, or when the calling task is cancelled.
    public func wait(after id: UInt64) async {
        await ring.wait(for: id, cancelled: ()) { ring in ring.head > id ? () : nil }
    }
}
