/// Group commit for a hot, independent operation (completing leases): calls that arrive while a
/// batch is in flight wait and go out together in the next one, so under load many share one
/// round trip, and alone a call goes out at once — nothing waits on a timer.
///
/// The caller that finds no batch in flight leads one: it sends what is queued and hands each
/// waiter its own result, then hands the lead to the oldest caller still queued (so no caller
/// flushes for others indefinitely under sustained load).
public final class GroupCommit<Item: Sendable, Output: Sendable>: Sendable {
    public typealias Flush = ([Item]) async throws -> [Result<Output, any Error>]

    private struct State {
        var queue: [(ticket: UInt64, item: Item)] = []
        var flushing = false
        var nextTicket: UInt64 = 0
    }

    /// What a queued caller is woken with: its outcome, or the lead of the next batch.
    private enum Turn: Sendable {
        case lead
        case done(Result<Output, any Error>)
    }

    /// Waiters are tagged with their ticket.
    private let state = WaitableState<State, UInt64, Turn>(State())
    private let maxBatch: Int

    public init(maxBatch: Int) {
        self.maxBatch = maxBatch
    }

    /// Sends `item`, with whatever else is queued when this caller leads a batch; `flush` must
    /// answer every item of a batch, in order. A queued caller is owed its outcome, so the wait
    /// ignores cancellation.
    public func submit(_ item: Item, flush: Flush) async throws -> Output {
        let ticket = state.withLock { s in
            s.nextTicket &+= 1
            return s.nextTicket
        }
        let turn = await state.wait(for: ticket, cancelled: nil) { s in
            if !s.flushing {
                s.flushing = true
                return .lead
            }
            s.queue.append((ticket, item))
            return nil
        }
        switch turn {
        case .done(let result): return try result.get()
        case .lead: return try await lead(own: item, flush: flush)
        }
    }

    /// Sends one batch: `own` and as many queued items as fit.
    private func lead(own: Item, flush: Flush) async throws -> Output {
        let taken = state.withLock { s in
            let taken = Array(s.queue.prefix(maxBatch - 1))
            s.queue.removeFirst(taken.count)
            return taken
        }
        let results: [Result<Output, any Error>]
        do {
            results = try await flush([own] + taken.map(\.item))
            precondition(results.count == taken.count + 1, "a flush answers every item")
        } catch {
            results = Array(repeating: .failure(error), count: taken.count + 1)
        }
        var outcomes: [UInt64: Result<Output, any Error>] = [:]
        outcomes.reserveCapacity(taken.count)
        for (entry, result) in zip(taken, results.dropFirst()) { outcomes[entry.ticket] = result }
        state.update { s, waiters in
            waiters.resume { ticket in outcomes[ticket].map(Turn.done) }
            if s.queue.isEmpty {
                s.flushing = false
            } else {
                let successor = s.queue.removeFirst().ticket
                waiters.resume { ticket in ticket == successor ? .lead : nil }
            }
        }
        return try results[0].get()
    }
}
