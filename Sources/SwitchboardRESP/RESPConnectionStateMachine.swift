import NIOCore

/// The state of one pipelined connection, as SwiftNIO's and valkey-swift's handlers keep it:
/// the handler feeds it events and carries out the action it returns, so every transition is
/// here, testable without a channel, and the handler holds no state of its own but its timer.
///
/// Commands wait for their replies in write order. A cancelled command's caller is answered at
/// once, but its entry stays in line (marked abandoned) so the reply it will still get is
/// matched and dropped, and the connection stays usable. One deadline timer serves the whole
/// connection: it is armed for the earliest deadline waiting and, when it fires, either finds a
/// command past its deadline (then the connection is closed: later replies could no longer be
/// matched) or is armed again for the earliest one left.
struct RESPConnectionStateMachine<Promise> {
    struct Entry {
        var request: UInt64
        /// Nil once abandoned (the caller was cancelled): the reply is read and dropped.
        var promise: Promise?
        var deadline: NIODeadline?
    }

    private enum State {
        case active(waiting: CircularBuffer<Entry>, timer: NIODeadline?)
        case closed
    }

    private var state: State = .active(waiting: CircularBuffer(initialCapacity: 16), timer: nil)

    enum WriteAction {
        /// Write the commands; arm the connection's timer for `armTimer` when it is set.
        case write(armTimer: NIODeadline?)
        /// The connection is closed: fail these and write nothing.
        case failClosed([Promise])
    }

    enum ReplyAction {
        case succeed(Promise)
        /// The reply of an abandoned command: drop it.
        case discard
        /// A reply nobody asked for: fail these and close.
        case failAndClose([Promise])
    }

    enum TimerAction {
        case none
        case rearm(NIODeadline)
        /// `expired` ran past its deadline: fail it with `timeout`, the others as closed, and close.
        case timeOut(expired: [Promise], others: [Promise])
    }

    /// Commands of request `request` are about to be written, one promise each.
    mutating func write(request: UInt64, promises: [Promise], deadline: NIODeadline?) -> WriteAction {
        switch state {
        case .closed:
            return .failClosed(promises)
        case .active(var waiting, let timer):
            state = .closed  // while `waiting` is borrowed, so appending does not copy it
            for promise in promises { waiting.append(Entry(request: request, promise: promise, deadline: deadline)) }
            var arm: NIODeadline?
            if let deadline, !promises.isEmpty, timer.map({ deadline < $0 }) ?? true { arm = deadline }
            state = .active(waiting: waiting, timer: arm ?? timer)
            return .write(armTimer: arm)
        }
    }

    mutating func reply() -> ReplyAction {
        switch state {
        case .closed:
            return .discard
        case .active(var waiting, let timer):
            state = .closed
            guard let first = waiting.popFirst() else {
                return .failAndClose([])
            }
            state = .active(waiting: waiting, timer: timer)
            return first.promise.map { .succeed($0) } ?? .discard
        }
    }

    /// The caller of `request` left: answer its waiting commands now (with the returned promises)
    /// and drop their replies when they come.
    mutating func cancel(request: UInt64) -> [Promise] {
        guard case .active(var waiting, let timer) = state else { return [] }
        state = .closed
        var cancelled: [Promise] = []
        for index in waiting.indices where waiting[index].request == request {
            if let promise = waiting[index].promise { cancelled.append(promise) }
            waiting[index].promise = nil
        }
        state = .active(waiting: waiting, timer: timer)
        return cancelled
    }

    mutating func timerFired(now: NIODeadline) -> TimerAction {
        guard case .active(let waiting, _) = state else { return .none }
        var earliest: NIODeadline?
        var expired = false
        for entry in waiting {
            guard let deadline = entry.deadline else { continue }
            if deadline <= now { expired = true; break }
            earliest = earliest.map { min($0, deadline) } ?? deadline
        }
        if expired {
            state = .closed
            var late: [Promise] = []
            var others: [Promise] = []
            for entry in waiting {
                guard let promise = entry.promise else { continue }
                if let deadline = entry.deadline, deadline <= now { late.append(promise) } else { others.append(promise) }
            }
            return .timeOut(expired: late, others: others)
        }
        state = .active(waiting: waiting, timer: earliest)
        return earliest.map { .rearm($0) } ?? .none
    }

    /// The channel closed or failed: the promises still waiting, to fail.
    mutating func closed() -> [Promise] {
        guard case .active(let waiting, _) = state else { return [] }
        state = .closed
        return waiting.compactMap(\.promise)
    }

    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }
}
