import Synchronization

/// Group commit for a hot, independent operation (completing leases in Redis, or over HTTP):
/// calls that arrive while a batch is in flight wait and go out together in the next one, so
/// under load many share one round trip, and alone a call goes out at once — nothing waits on
/// a timer.
///
/// The caller that finds no batch in flight leads one: it sends what is queued and hands each
/// waiter its own result.
public final class GroupCommit<Item: Sendable, Output: Sendable>: Sendable {
    public typealias Flush = ([Item]) async throws -> [Result<Output, any Error>]

    private struct Waiting {
        var item: Item
        /// Nil for the flusher's own item. Resumed with nil to tell a caller that the batch it
        /// meant to join ended before it could queue, so it must lead one itself.
        var continuation: CheckedContinuation<Output?, any Error>?
    }

    private struct State {
        var queue: [Waiting] = []
        var flushing = false
    }

    private let state = Mutex(State())
    private let maxBatch: Int

    public init(maxBatch: Int) {
        self.maxBatch = maxBatch
    }

    /// Sends `item`, with whatever else is queued when this caller leads a batch; `flush` must
    /// answer every item of a batch, in order.
    public func submit(_ item: Item, flush: Flush) async throws -> Output {
        while true {
            let leads = state.withLock { s in
                if s.flushing { return false }
                s.flushing = true
                return true
            }
            if leads { return try await lead(own: item, flush: flush) }
            let output: Output? = try await withCheckedThrowingContinuation { continuation in
                let queued = state.withLock { s in
                    guard s.flushing else { return false }
                    s.queue.append(Waiting(item: item, continuation: continuation))
                    return true
                }
                if !queued { continuation.resume(returning: nil) }
            }
            if let output { return output }
        }
    }

    /// Sends one batch: `own` and as many queued items as fit. Then hands the lead to the
    /// oldest caller still queued (it leads the next batch), so no caller flushes for others
    /// indefinitely under sustained load.
    private func lead(own: Item, flush: Flush) async throws -> Output {
        let batch: [Waiting] = state.withLock { s in
            let taken = Array(s.queue.prefix(maxBatch - 1))
            s.queue.removeFirst(taken.count)
            return [Waiting(item: own, continuation: nil)] + taken
        }
        let results: [Result<Output, any Error>]
        do {
            results = try await flush(batch.map(\.item))
            precondition(results.count == batch.count, "a flush answers every item")
        } catch {
            results = Array(repeating: .failure(error), count: batch.count)
        }
        for (waiting, result) in zip(batch.dropFirst(), results.dropFirst()) {
            waiting.continuation?.resume(with: result.map { Optional($0) })
        }
        let successor = state.withLock { s in
            s.flushing = false
            return s.queue.isEmpty ? nil : s.queue.removeFirst()
        }
        successor?.continuation?.resume(returning: nil)
        return try results[0].get()
    }
}
