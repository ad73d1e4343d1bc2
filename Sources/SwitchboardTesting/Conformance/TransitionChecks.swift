import SwitchboardCore
import SwitchboardJSON
import Synchronization

// A task's life: enqueue, lease order, completion, failure, release, cancel, idempotency and lock-key gating.
extension BackendConformance {
    static let transitions: [BackendConformanceCheck] = [
        .init(.transitions, "strict priority, FIFO within a priority") { b in
            let q = Fixture.queue()
            let spec: [(String, UInt8)] = [("a", 0), ("b", 5), ("c", 0), ("d", 255), ("e", 5), ("f", 1)]
            let ids = spec.map { Fixture.uniqueID($0.0) }
            for (i, (_, p)) in spec.enumerated() {
                _ = try await b.enqueue([Fixture.task(id: ids[i], queue: q, priority: p)], now: Fixture.t0)
            }
            var order: [String] = []
            while let next = try await lease(b, [q]).first { order.append(next.task.id) }
            try expectEqual(order, [ids[3], ids[1], ids[4], ids[5], ids[0], ids[2]], "lease order")
        },
        .init(.transitions, "a batch lease keeps the same order") { b in
            let q = Fixture.queue()
            let tasks = (0..<20).map { i in Fixture.task(queue: q, priority: UInt8(i % 3)) }
            _ = try await b.enqueue(tasks, now: Fixture.t0)
            let leased = try await lease(b, [q], max: 20)
            let expected = tasks.enumerated().sorted { l, r in
                l.element.record.priority != r.element.record.priority
                    ? l.element.record.priority > r.element.record.priority : l.offset < r.offset
            }.map(\.element.record.id)
            try expectEqual(leased.map(\.task.id), expected, "batch lease order")
        },
        .init(.transitions, "queues are leased in the order given") { b in
            let (q1, q2) = (Fixture.queue(), Fixture.queue())
            let low = Fixture.task(queue: q1, priority: 0)
            let high = Fixture.task(queue: q2, priority: 200)
            _ = try await b.enqueue([low, high], now: Fixture.t0)
            let leased = try await lease(b, [q1, q2], max: 2)
            try expectEqual(leased.map(\.task.id), [low.record.id, high.record.id], "queue order beats priority")
        },
        .init(.transitions, "a lease starts an attempt and records the worker") { b in
            let q = Fixture.queue()
            let t = Fixture.task(queue: q, timeoutMS: 4000)
            _ = try await b.enqueue([t], now: Fixture.t0)
            let l = try unwrap(try await lease(b, [q], at: 50, worker: "w-7", terms: LeaseTerms(grace: .seconds(1))).first, "lease")
            try expectEqual(l.task.status, .running, "status")
            try expectEqual(l.task.attempts, 1, "attempts")
            try expectEqual(l.task.workerID, "w-7", "worker")
            try expectEqual(l.task.startedAt, Fixture.at(50), "started_at")
            try expectEqual(l.expiresAt, Fixture.at(5050), "timeout + grace when no duration is asked")
            try expectEqual(l.task.leaseExpiresAt, l.expiresAt, "lease_expires_at")
            try expect(l.leaseID.count >= 16, "lease ids are long enough to be unguessable")
            let other = try await lease(b, [q], at: 60)
            try expect(other.isEmpty, "a running task is not leased twice")
            let stored = try unwrap(try await b.task(id: t.record.id), "stored task")
            try expectEqual(stored.status, .running, "stored status")
        },
        .init(.transitions, "concurrent leasers never get the same task") { b in
            let q = Fixture.queue()
            let tasks = (0..<200).map { _ in Fixture.task(queue: q) }
            _ = try await b.enqueue(tasks, now: Fixture.t0)
            let ids = try await withThrowingTaskGroup(of: [String].self) { group in
                for w in 0..<8 {
                    group.addTask {
                        var mine: [String] = []
                        while case let got = try await lease(b, [q], max: 3, worker: "w\(w)"), !got.isEmpty {
                            mine += got.map(\.task.id)
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            try expectEqual(ids.count, 200, "leased count")
            try expectEqual(Set(ids).count, 200, "distinct leased ids")
        },
        .init(.transitions, "a not_before in the past is ready at once") { b in
            let q = Fixture.queue()
            let t = Fixture.task(queue: q, notBefore: Fixture.at(-5000))
            let stored = try await b.enqueue([t], now: Fixture.t0)
            try expectEqual(stored[0].task.status, .pending, "status")
            try expectEqual(try await lease(b, [q]).count, 1, "leased")
        },
        .init(.transitions, "a failure retries at the decided time, then buries; attempts and errors add up") { b in
            let q = Fixture.queue()
            let t = Fixture.task(queue: q, maxRetries: 1)
            _ = try await b.enqueue([t], now: Fixture.t0)
            let first = try await lease(b, [q], worker: "wa")[0]
            let retried = try await b.fail(leaseID: first.leaseID, message: "boom 1", now: Fixture.at(10), decide: retry(at: 500))
            try expectEqual(retried.status, .retrying, "after the first failure")
            try expectEqual(retried.error, "boom 1", "error")
            try expectEqual(retried.leaseExpiresAt, nil, "no lease while retrying")
            try expect(try await lease(b, [q], at: 499).isEmpty, "not leased during the backoff")
            let second = try await lease(b, [q], at: 500, worker: "wb")[0]
            try expectEqual(second.task.attempts, 2, "attempts on the retry")
            let dead = try await b.fail(leaseID: second.leaseID, message: "boom 2", now: Fixture.at(600), decide: bury)
            try expectEqual(dead.status, .dead, "after the last failure")
            try expectEqual(dead.finishedAt, Fixture.at(600), "finished_at")
            try expectEqual(dead.errors.map(\.attempt), [1, 2], "error attempts")
            try expectEqual(dead.errors.map(\.message), ["boom 1", "boom 2"], "error messages")
            try expectEqual(dead.errors.map(\.workerID), ["wa", "wb"], "error workers")
            try expectEqual(dead.errors.map(\.at), [Fixture.at(10), Fixture.at(600)], "error times")
            try expectEqual(dead.errors.map(\.startedAt), [Fixture.at(0), Fixture.at(500)], "when each attempt started")
            try expectEqual(try await b.task(id: t.record.id)?.errors, dead.errors, "the history as stored")
            try expect(try await lease(b, [q], at: 10_000).isEmpty, "dead tasks are not leased")
        },
        .init(.transitions, "decide sees the task with the failed attempt counted") { b in
            let q = Fixture.queue()
            _ = try await b.enqueue([Fixture.task(queue: q, maxRetries: 7)], now: Fixture.t0)
            let l = try await lease(b, [q])[0]
            let seen = Mutex<TaskRecord?>(nil)
            _ = try await b.fail(leaseID: l.leaseID, message: "x", now: Fixture.at(1)) { task in
                seen.withLock { $0 = task }
                return .bury
            }
            let task = try unwrap(seen.withLock { $0 }, "decided task")
            try expectEqual(task.attempts, 1, "attempts")
            try expectEqual(task.maxRetries, 7, "max_retries")
        },
        .init(.transitions, "complete stores the result verbatim") { b in
            let q = Fixture.queue()
            _ = try await b.enqueue([Fixture.task(queue: q)], now: Fixture.t0)
            let l = try await lease(b, [q])[0]
            let result = RawJSON(unchecked: Array(#"{"b": [1, 2.50, "x"],  "a":null}"#.utf8))
            let done = try await b.complete(leaseID: l.leaseID, result: result, now: Fixture.at(30))
            try expectEqual(done.status, .completed, "status")
            try expectEqual(done.result, result, "result bytes")
            try expectEqual(done.finishedAt, Fixture.at(30), "finished_at")
            try expectEqual(try await b.task(id: done.id)?.result, result, "stored result bytes")
            try expectEqual(try await b.task(id: done.id)?.payload.description, #"{"n":1}"#, "payload bytes")
        },
        .init(.transitions, "a batch of completions: each stands alone, in order, lock keys freed") { b in
            let q = Fixture.queue()
            let key = Fixture.uniqueID("key")
            let gated = Fixture.task(queue: q, lockKey: key)
            let waiting = Fixture.task(queue: q, lockKey: key)
            let plain = (0..<3).map { _ in Fixture.task(queue: q) }
            _ = try await b.enqueue([gated] + plain + [waiting], now: Fixture.t0)
            let leased = try await lease(b, [q], max: 5)
            try expectEqual(leased.count, 4, "the second task with the key waits")
            let byID = Dictionary(uniqueKeysWithValues: leased.map { ($0.task.id, $0) })
            let stale = try unwrap(byID[plain[1].record.id], "leased plain task")
            _ = try await b.release(leaseID: stale.leaseID, now: Fixture.at(5))
            let batch = [
                LeaseCompletion(leaseID: try unwrap(byID[gated.record.id], "leased gated task").leaseID, result: RawJSON.null),
                LeaseCompletion(leaseID: stale.leaseID, result: nil),
                LeaseCompletion(leaseID: "no-such-lease-0000000000000000000000000000", result: nil),
                LeaseCompletion(leaseID: try unwrap(byID[plain[2].record.id], "leased plain task").leaseID, result: try RawJSON(validating: "[1]")),
            ]
            let results = try await b.complete(batch: batch, now: Fixture.at(10))
            try expectEqual(results.count, 4, "one answer per completion")
            try expectEqual(try results[0].get().status, .completed, "first")
            try expectEqual(try results[3].get().result, try RawJSON(validating: "[1]"), "last, with its result")
            for (index, kind) in [(1, SwitchboardError.Kind.conflict), (2, .notFound)] {
                try await expectError(kind, "item \(index)") { try results[index].get() }
            }
            try expectEqual(try await b.task(id: plain[1].record.id)?.status, .pending, "the released task is untouched")
            let next = try await lease(b, [q], max: 5, at: 20)
            try expectEqual(Set(next.map(\.task.id)), [plain[1].record.id, waiting.record.id], "the freed key's task is leased")
        },
        .init(.transitions, "release gives the task back in its place without using the attempt") { b in
            let q = Fixture.queue()
            let (first, second) = (Fixture.task(queue: q), Fixture.task(queue: q))
            _ = try await b.enqueue([first, second], now: Fixture.t0)
            let l = try await lease(b, [q])[0]
            try expectEqual(l.task.id, first.record.id, "leased first")
            let released = try await b.release(leaseID: l.leaseID, now: Fixture.at(10))
            try expectEqual(released.status, .pending, "status")
            try expectEqual(released.attempts, 0, "attempts")
            try expectEqual(released.errors.count, 0, "no error recorded")
            let again = try await lease(b, [q], at: 20)[0]
            try expectEqual(again.task.id, first.record.id, "back in its place, ahead of the second")
            try expectEqual(again.task.attempts, 1, "attempts on the next lease")
        },
        .init(.transitions, "heartbeats extend the lease") { b in
            let q = Fixture.queue()
            _ = try await b.enqueue([Fixture.task(queue: q)], now: Fixture.t0)
            let terms = LeaseTerms(duration: .seconds(1), grace: .zero)
            let l = try await lease(b, [q], terms: terms)[0]
            let beat = try await b.heartbeat(leaseID: l.leaseID, extension: terms, now: Fixture.at(800))
            try expectEqual(beat.expiresAt, Fixture.at(1800), "new expiry")
            try expectEqual(beat.cancelRequested, false, "no cancel asked")
            try expect(try await b.reapExpiredLeases(now: Fixture.at(1500), limit: 10, decide: bury).isEmpty, "not reaped after a heartbeat")
            try expectEqual(try await b.task(id: l.task.id)?.leaseExpiresAt, Fixture.at(1800), "stored expiry")
            let reaped = try await b.reapExpiredLeases(now: Fixture.at(1800), limit: 10, decide: bury)
            try expectEqual(reaped.count, 1, "reaped at the extended expiry")
        },
        .init(.transitions, "releases are counted; one past the limit is a failed attempt with decide's verdict") { b in
            let q = Fixture.queue()
            let t = Fixture.task(queue: q, maxRetries: 5)
            _ = try await b.enqueue([t], now: Fixture.t0)
            for i in 1...2 {
                let l = try await lease(b, [q], at: Int64(i))[0]
                let released = try await b.release(leaseID: l.leaseID, now: Fixture.at(Int64(i)), maxReleases: 2, decide: bury)
                try expectEqual(released.status, .pending, "release \(i) within the limit")
                try expectEqual(released.releases, i, "releases counted")
                try expectEqual(released.attempts, 0, "no attempt used")
            }
            let third = try await lease(b, [q], at: 10)[0]
            try expectEqual(third.task.releases, 2, "the count travels with the task")
            let failed = try await b.release(leaseID: third.leaseID, now: Fixture.at(11), maxReleases: 2, decide: retry(at: 500))
            try expectEqual(failed.status, .retrying, "past the limit: a failed attempt, retried as decided")
            try expectEqual(failed.releases, 3, "still counted")
            try expectEqual(failed.attempts, 1, "the attempt is used")
            try expectEqual(failed.errors.count, 1, "with an error")
            try expect(failed.error?.contains("released more than 2 times") == true, "the error says why: \(failed.error ?? "nil")")
            try expectEqual(try await b.task(id: t.record.id)?.releases, 3, "stored")
            try expect(try await lease(b, [q], at: 499).isEmpty, "not ready before the retry time")
            let fourth = try await lease(b, [q], at: 500)[0]
            let buried = try await b.release(leaseID: fourth.leaseID, now: Fixture.at(501), maxReleases: 2, decide: bury)
            try expectEqual(buried.status, .dead, "and buried when decide says so")
        },
        .init(.transitions, "a lock-keyed task's every lease carries a fencing token that strictly increases per key") { b in
            let q = Fixture.queue()
            let (key, other) = (Fixture.uniqueID("repo"), Fixture.uniqueID("other"))
            let first = Fixture.task(queue: q, lockKey: key)
            let second = Fixture.task(queue: q, lockKey: key)
            let elsewhere = Fixture.task(queue: q, lockKey: other)
            let plain = Fixture.task(queue: q)
            _ = try await b.enqueue([first, second, elsewhere, plain], now: Fixture.t0)
            let leased = try await lease(b, [q], max: 4)
            try expectEqual(leased.map(\.task.id), [first, elsewhere, plain].map(\.record.id), "one task per key")
            let t1 = try unwrap(leased[0].fencingToken, "a token for a keyed task")
            try expect(leased[1].fencingToken != nil, "a token for another key")
            try expectEqual(leased[2].fencingToken, nil, "no token without a key")
            // The key's next holders: after a release, after the holder's lease expired, after a completion.
            _ = try await b.release(leaseID: leased[0].leaseID, now: Fixture.at(1))
            let again = try await lease(b, [q], at: 2)[0]
            try expectEqual(again.task.id, first.record.id, "the released task keeps its place")
            let t2 = try unwrap(again.fencingToken, "a token on the next lease")
            try expect(t2 > t1, "strictly increasing: \(t1) then \(t2)")
            _ = try await b.complete(leaseID: again.leaseID, result: nil, now: Fixture.at(3))
            let next = try await lease(b, [q], at: 4)[0]
            try expectEqual(next.task.id, second.record.id, "the next task with the key")
            let t3 = try unwrap(next.fencingToken, "a token for the next task with the key")
            try expect(t3 > t2, "strictly increasing across tasks of the key: \(t2) then \(t3)")
        },
        .init(.transitions, "cancel in each state") { b in
            let q = Fixture.queue()
            let pending = Fixture.task(queue: q)
            let scheduled = Fixture.task(queue: q, notBefore: Fixture.at(60_000))
            let retrying = Fixture.task(queue: q, priority: 9)
            let running = Fixture.task(queue: q, priority: 8)
            let completed = Fixture.task(queue: q, priority: 7)
            let dead = Fixture.task(queue: q, priority: 6)
            _ = try await b.enqueue([pending, scheduled, retrying, running, completed, dead], now: Fixture.t0)
            let leased = try await lease(b, [q], max: 4)
            try expectEqual(leased.map(\.task.id), [retrying, running, completed, dead].map(\.record.id), "setup leases")
            _ = try await b.fail(leaseID: leased[0].leaseID, message: "x", now: Fixture.at(1), decide: retry(at: 60_000))
            _ = try await b.complete(leaseID: leased[2].leaseID, result: nil, now: Fixture.at(1))
            _ = try await b.fail(leaseID: leased[3].leaseID, message: "x", now: Fixture.at(1), decide: bury)

            for t in [pending, scheduled, retrying] {
                let c = try await b.cancel(id: t.record.id, now: Fixture.at(2))
                try expectEqual(c.status, .cancelled, "cancel \(t.record.id)")
                try expectEqual(c.finishedAt, Fixture.at(2), "finished_at")
            }
            try expectEqual(try await b.cancel(id: pending.record.id, now: Fixture.at(3)).status, .cancelled, "cancel twice")
            let asked = try await b.cancel(id: running.record.id, now: Fixture.at(3))
            try expectEqual(asked.status, .running, "a running task keeps running until its worker stops")
            let beat = try await b.heartbeat(leaseID: leased[1].leaseID, extension: Fixture.terms, now: Fixture.at(4))
            try expect(beat.cancelRequested, "the heartbeat tells the worker")
            let stopped = try await b.fail(leaseID: leased[1].leaseID, message: "cancelled", now: Fixture.at(5), decide: retry(at: 6))
            try expectEqual(stopped.status, .cancelled, "a cancelled running task ends cancelled, not retried")
            try await expectError(.conflict, "cancel a completed task") { try await b.cancel(id: completed.record.id, now: Fixture.at(6)) }
            try await expectError(.conflict, "cancel a dead task") { try await b.cancel(id: dead.record.id, now: Fixture.at(6)) }
            try await expectError(.notFound, "cancel an unknown task") { try await b.cancel(id: Fixture.uniqueID(), now: Fixture.at(6)) }
            try expect(try await lease(b, [q], max: 10, at: 120_000).isEmpty, "cancelled tasks are never leased")
        },
        .init(.transitions, "a released task that was asked to cancel ends cancelled") { b in
            let q = Fixture.queue()
            _ = try await b.enqueue([Fixture.task(queue: q)], now: Fixture.t0)
            let l = try await lease(b, [q])[0]
            _ = try await b.cancel(id: l.task.id, now: Fixture.at(1))
            try expectEqual(try await b.release(leaseID: l.leaseID, now: Fixture.at(2)).status, .cancelled, "status")
        },
        .init(.transitions, "idempotency keys and client ids return the existing task") { b in
            let q = Fixture.queue()
            let key = Fixture.uniqueID("key")
            let first = try await b.enqueue([Fixture.task(queue: q, idempotencyKey: key, idempotencyTTLms: 1000)], now: Fixture.t0)[0]
            try expect(first.created, "first enqueue creates")
            let replay = try await b.enqueue([Fixture.task(queue: q, idempotencyKey: key)], now: Fixture.at(500))[0]
            try expect(!replay.created, "replay does not create")
            try expectEqual(replay.task.id, first.task.id, "replay returns the first task")
            let id = Fixture.uniqueID("client")
            let a = try await b.enqueue([Fixture.task(id: id, queue: q, payload: #"{"v":1}"#)], now: Fixture.t0)[0]
            let again = try await b.enqueue([Fixture.task(id: id, queue: q, payload: #"{"v":2}"#)], now: Fixture.t0)[0]
            try expect(a.created && !again.created, "a client id is created once")
            try expectEqual(again.task.payload.description, #"{"v":1}"#, "the first payload stays")
        },
        .init(.transitions, "a batch is stored whole, duplicates inside it collapse") { b in
            let q = Fixture.queue()
            let id = Fixture.uniqueID()
            let outcomes = try await b.enqueue(
                [Fixture.task(queue: q), Fixture.task(id: id, queue: q), Fixture.task(id: id, queue: q)], now: Fixture.t0)
            try expectEqual(outcomes.map(\.created), [true, true, false], "created flags")
            try expectEqual(outcomes[2].task.id, id, "the duplicate returns the first")
            try expectEqual(try await lease(b, [q], max: 10).count, 2, "two tasks stored")
        },
        .init(.transitions, "tasks sharing a lock key never run at once; the next runs when the key frees") { b in
            let (q1, q2) = (Fixture.queue(), Fixture.queue())
            let key = Fixture.uniqueID("repo")
            let a = Fixture.task(queue: q1, lockKey: key)
            let c = Fixture.task(queue: q2, lockKey: key)
            let free = Fixture.task(queue: q1)
            let other = Fixture.task(queue: q1, lockKey: Fixture.uniqueID("other"))
            _ = try await b.enqueue([a, Fixture.task(queue: q1, lockKey: key), free, other, c], now: Fixture.t0)
            let first = try await lease(b, [q1, q2], max: 10)
            try expectEqual(first.map(\.task.id), [a.record.id, free.record.id, other.record.id], "one task per key")
            try expect(try await lease(b, [q1, q2], max: 10, at: 1).isEmpty, "the key is still held")
            _ = try await b.complete(leaseID: first[0].leaseID, result: nil, now: Fixture.at(2))
            let second = try await lease(b, [q1, q2], max: 10, at: 3)
            try expectEqual(second.count, 1, "exactly one more task with the key")
            try expectEqual(second[0].task.queue, q1, "the parked task of the first queue keeps its place")
            _ = try await b.fail(leaseID: second[0].leaseID, message: "x", now: Fixture.at(4), decide: bury)
            let third = try await lease(b, [q1, q2], max: 10, at: 5)
            try expectEqual(third.map(\.task.id), [c.record.id], "then the task in the other queue")
            _ = try await b.release(leaseID: third[0].leaseID, now: Fixture.at(6))
            try expectEqual(try await lease(b, [q2], max: 10, at: 7).map(\.task.id), [c.record.id], "a release frees the key")
        },
        .init(.transitions, "a cancelled task waiting for its key is skipped") { b in
            let q = Fixture.queue()
            let key = Fixture.uniqueID("k")
            let tasks = (0..<3).map { _ in Fixture.task(queue: q, lockKey: key) }
            _ = try await b.enqueue(tasks, now: Fixture.t0)
            let l = try await lease(b, [q], max: 3)
            try expectEqual(l.count, 1, "one runs")
            _ = try await b.cancel(id: tasks[1].record.id, now: Fixture.at(1))
            _ = try await b.complete(leaseID: l[0].leaseID, result: nil, now: Fixture.at(2))
            try expectEqual(try await lease(b, [q], max: 3, at: 3).map(\.task.id), [tasks[2].record.id], "the cancelled one is skipped")
        },
        .init(.transitions, "cancelling the task a freed key was handed to passes the key on") { b in
            let q = Fixture.queue()
            let key = Fixture.uniqueID("k")
            let tasks = (0..<3).map { _ in Fixture.task(queue: q, lockKey: key) }
            _ = try await b.enqueue(tasks, now: Fixture.t0)
            let first = try await lease(b, [q], max: 3)
            try expectEqual(first.map(\.task.id), [tasks[0].record.id], "one runs")
            _ = try await b.complete(leaseID: first[0].leaseID, result: nil, now: Fixture.at(1))
            // The key went to tasks[1], which is cancelled before anyone leases it.
            _ = try await b.cancel(id: tasks[1].record.id, now: Fixture.at(2))
            try expectEqual(try await lease(b, [q], max: 3, at: 3).map(\.task.id), [tasks[2].record.id], "the last one is not stranded")
        },
    ]
}
