import SwitchboardCore

// An optional ability: dropping finished tasks and expired idempotency keys.
extension BackendConformance {
    static let finishedTaskRetention: [BackendConformanceCheck] = [
        .init(.finishedTaskRetention, "retention drops old finished tasks only") { b in
            let q = Fixture.queue()
            let tasks = (0..<4).map { _ in Fixture.task(queue: q) }
            let survivor = Fixture.task(queue: q, priority: 0)
            _ = try await b.enqueue(tasks, now: Fixture.t0)
            let leased = try await lease(b, [q], max: 4)
            for (i, l) in leased.enumerated() where i < 3 {
                _ = try await b.complete(leaseID: l.leaseID, result: nil, now: Fixture.at(Int64(i) * 100))
            }
            _ = try await b.fail(leaseID: leased[3].leaseID, message: "x", now: Fixture.at(0), decide: bury)
            _ = try await b.enqueue([survivor], now: Fixture.at(1))
            let cancelled = Fixture.task(queue: q)
            _ = try await b.enqueue([cancelled], now: Fixture.at(1))
            _ = try await b.cancel(id: cancelled.record.id, now: Fixture.at(150))
            _ = try await retention(b).trim(finishedBefore: Fixture.at(100), keepAtMost: 1_000_000, now: Fixture.at(1000))
            try expectEqual(try await b.task(id: tasks[0].record.id), nil, "completed before the cutoff")
            try expect(try await b.task(id: tasks[1].record.id) != nil, "completed at the cutoff stays")
            try expect(try await b.task(id: tasks[3].record.id) != nil, "dead tasks stay until an operator acts")
            try expect(try await b.task(id: survivor.record.id) != nil, "pending tasks stay")
            _ = try await retention(b).trim(finishedBefore: Fixture.t0, keepAtMost: 0, now: Fixture.at(1000))
            try expectEqual(try await b.task(id: tasks[2].record.id), nil, "over the count limit")
            try expectEqual(try await b.task(id: cancelled.record.id), nil, "cancelled tasks are retained like completed ones")
            try expect(try await b.task(id: tasks[3].record.id) != nil, "dead tasks survive the count limit")
        },
        .init(.finishedTaskRetention, "trim forgets idempotency keys past their expiry") { b in
            let q = Fixture.queue()
            let key = Fixture.uniqueID("key")
            let first = try await b.enqueue([Fixture.task(queue: q, idempotencyKey: key, idempotencyTTLms: 1000)], now: Fixture.t0)[0]
            _ = try await retention(b).trim(finishedBefore: Fixture.t0, keepAtMost: 1_000_000, now: Fixture.at(999))
            try expect(!(try await b.enqueue([Fixture.task(queue: q, idempotencyKey: key)], now: Fixture.at(999))[0].created), "a live key still returns the task")
            _ = try await retention(b).trim(finishedBefore: Fixture.t0, keepAtMost: 1_000_000, now: Fixture.at(1000))
            let later = try await b.enqueue([Fixture.task(queue: q, idempotencyKey: key)], now: Fixture.at(1000))[0]
            try expect(later.created, "an expired idempotency key creates a new task")
            try expect(later.task.id != first.task.id, "a new id after expiry")
        },
    ]
}
