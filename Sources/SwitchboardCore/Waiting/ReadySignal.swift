/// Wakes leasers that wait for work, the moment work may be there: an enqueue, a promotion, a
/// release, a requeue or a resume calls `notify`. Nothing polls.
///
/// A generation counter closes the race between "the lease found nothing" and "the leaser
/// started waiting": a waiter passes the generation it saw before leasing and returns at once
/// if anything was signalled since.
final class ReadySignal: Sendable {
    /// The generation, and waiters tagged with the queues they wait on.
    private let state = WaitableState<UInt64, [String], Void>(0)

    var generation: UInt64 { state.withLock { $0 } }

    var waiterCount: Int { state.waiterCount }

    /// Wakes the waiters on any of `queues`.
    func notify(queues: some Sequence<String>) {
        let names = Set(queues)
        guard !names.isEmpty else { return }
        state.update { generation, waiters in
            generation &+= 1
            waiters.resume { queues in queues.contains(where: names.contains) ? () : nil }
        }
    }

    /// Wakes every waiter (e.g. a lock key came free, whose waiting task may be in any queue).
    func notifyAll() {
        state.update { generation, waiters in
            generation &+= 1
            waiters.resumeAll(with: ())
        }
    }

    /// Returns when one of `queues` is notified, at once if anything was notified after
    /// `generation`, or when the calling task is cancelled.
    func wait(queues: [String], after generation: UInt64) async {
        await state.wait(for: queues, cancelled: ()) { current in current != generation ? () : nil }
    }
}
