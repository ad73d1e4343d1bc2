import DequeModule
import Synchronization

/// The last events of this server, numbered, in a bounded ring: a reader asks for those after
/// the last id it saw (SSE's `Last-Event-ID`) and learns when some were dropped before it read
/// them (then it reloads what it shows). Readers are woken by `append`, never polled, and a
/// slow reader costs nothing but the ring: nothing is queued per reader.
///
/// Recording has a price on the engine's hot path (BENCHMARKS.md, "Events"), so the journal
/// records only while someone reads: while a stream is open, and for `readerGrace` after the
/// last read (long enough for a page to reconnect and resume). When recording starts again
/// after a silence, a gap marker takes a number: a reader whose last id is older learns that
/// it missed events, as it would had the ring dropped them.
public final class EventJournal: Sendable {
    public struct Numbered: Sendable {
        public var id: UInt64
        public var event: EngineEvent
    }

    /// What a reader gets: the events after its id, or — when some it had not seen were dropped
    /// or never recorded — none and `missed` (reload, then follow from `through`).
    public struct Reading: Sendable {
        public var events: [Numbered]
        public var missed: Bool
        /// The id of the newest event (0: none yet).
        public var head: UInt64
        /// Where the reader stands after this reading: the id to read after next.
        public var through: UInt64
    }

    struct Ring: Sendable {
        var events = Deque<Numbered>()
        var head: UInt64 = 0
        /// The number of the last gap marker (0: none).
        var lastGap: UInt64 = 0
    }

    /// Names this run of the server: ids of another run (before a restart) mean events were lost.
    public let epoch: String
    public let capacity: Int
    private let ring: WaitableState<Ring, UInt64, Void>

    /// How long after its last reader the journal goes on recording.
    public static let readerGrace: Duration = .seconds(300)
    private let openReaders = Atomic<Int>(0)
    /// When a reader last read or left (the engine's clock, ms); `Int64.min`: never.
    private let lastReadAt = Atomic<Int64>(.min)

    public init(capacity: Int = 10_000, epoch: String) {
        self.capacity = capacity
        self.epoch = epoch
        ring = WaitableState(Ring())
    }

    public var isEnabled: Bool { capacity > 0 }

    /// Whether events should be appended now: someone reads, or read lately.
    public func isRecording(at now: Timestamp) -> Bool {
        guard capacity > 0 else { return false }
        return openReaders.load(ordering: .relaxed) > 0
            || now.milliseconds <= lastReadAt.load(ordering: .relaxed) &+ Self.readerGrace.wholeMilliseconds
    }

    /// A stream opened (until `readerLeft`).
    public func readerArrived(at now: Timestamp) {
        let wasRecording = isRecording(at: now)
        openReaders.add(1, ordering: .relaxed)
        lastReadAt.store(now.milliseconds, ordering: .relaxed)
        if !wasRecording { markGap(at: now) }
    }

    public func readerLeft(at now: Timestamp) {
        openReaders.subtract(1, ordering: .relaxed)
        lastReadAt.store(now.milliseconds, ordering: .relaxed)
    }

    /// A one-off read (the JSON form).
    public func noteRead(at now: Timestamp) {
        let wasRecording = isRecording(at: now)
        lastReadAt.store(now.milliseconds, ordering: .relaxed)
        if !wasRecording { markGap(at: now) }
    }

    /// Recording starts again: events may have gone unrecorded since the last one kept.
    private func markGap(at now: Timestamp) {
        guard capacity > 0 else { return }
        ring.withLock { ring in
            guard ring.head > 0 else { return }  // nothing was ever recorded, nobody can have an id
            ring.head += 1
            ring.lastGap = ring.head
            ring.events.append(Numbered(id: ring.head, event: EngineEvent(kind: .gap, at: now)))
            if ring.events.count > capacity { ring.events.removeFirst(ring.events.count - capacity) }
        }
    }

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
            guard let id else { return Reading(events: [], missed: false, head: ring.head, through: ring.head) }
            let oldest = ring.events.first?.id ?? ring.head + 1
            // An id from the future is another run's (the ids restarted); one before the oldest
            // kept, or before a gap, missed some: reload and follow from now.
            guard id <= ring.head, id + 1 >= oldest, id >= ring.lastGap else {
                return Reading(events: [], missed: true, head: ring.head, through: ring.head)
            }
            let start = Int(id + 1 - oldest)
            let end = min(start + limit, ring.events.count)
            guard start < end else { return Reading(events: [], missed: false, head: ring.head, through: ring.head) }
            return Reading(events: Array(ring.events[start..<end]), missed: false, head: ring.head, through: ring.events[end - 1].id)
        }
    }

    /// Readers waiting now.
    public var waiterCount: Int { ring.waiterCount }

    /// Returns once an event after `id` exists, or when the calling task is cancelled.
    public func wait(after id: UInt64) async {
        await ring.wait(for: id, cancelled: ()) { ring in ring.head > id ? () : nil }
    }
}
