import Synchronization

/// Wakes leasers that wait for work, the moment work may be there: an enqueue, a promotion, a
/// release, a requeue or a resume calls `notify`. Nothing polls.
///
/// A generation counter closes the race between "the lease found nothing" and "the leaser
/// started waiting": a waiter passes the generation it saw before leasing and returns at once
/// if anything was signalled since.
final class ReadySignal: Sendable {
    private struct Waiter {
        var queues: [String]
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var generation: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    var generation: UInt64 { state.withLock { $0.generation } }

    var waiterCount: Int { state.withLock { $0.waiters.count } }

    /// Wakes the waiters on any of `queues`.
    func notify(queues: some Sequence<String>) {
        let names = Set(queues)
        guard !names.isEmpty else { return }
        let woken = state.withLock { s in
            s.generation &+= 1
            let ids = s.waiters.filter { $0.value.queues.contains(where: names.contains) }.map(\.key)
            return ids.compactMap { s.waiters.removeValue(forKey: $0)?.continuation }
        }
        for continuation in woken { continuation.resume() }
    }

    /// Wakes every waiter (e.g. a lock key came free, whose waiting task may be in any queue).
    func notifyAll() {
        let woken = state.withLock { s in
            s.generation &+= 1
            defer { s.waiters.removeAll() }
            return s.waiters.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns when one of `queues` is notified, at once if anything was notified after
    /// `generation`, or when the calling task is cancelled.
    func wait(queues: [String], after generation: UInt64) async {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // A cancellation before this registration already ran its handler (which found
                // nothing to resume): `Task.isCancelled`, read under the same lock, catches it.
                let resumeNow = state.withLock { s in
                    if Task.isCancelled || s.generation != generation { return true }
                    s.waiters[id] = Waiter(queues: queues, continuation: continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume()
        }
    }
}
