import SwitchboardCore

// The timed work: due tasks, expired leases, the next deadline.
extension BackendConformance {
    static let maintenance: [BackendConformanceCheck] = [
        .init(.maintenance, "scheduled tasks wait until due") { b in
            let q = Fixture.queue()
            let t = Fixture.task(queue: q, notBefore: Fixture.at(1000))
            let stored = try await b.enqueue([t], now: Fixture.t0)
            try expectEqual(stored[0].task.status, .scheduled, "status on enqueue")
            try expect(try await lease(b, [q], at: 999).isEmpty, "not leased before due")
            try expectEqual(try await b.nextDeadline(queues: [q]), Fixture.at(1000), "next deadline")
            let l = try await lease(b, [q], at: 1000)
            try expectEqual(l.map(\.task.id), [t.record.id], "leased once due")
            try expectEqual(l[0].readySince, Fixture.at(1000), "ready since its due time")
        },
        .init(.maintenance, "promoteDue makes due tasks pending and names their queues") { b in
            let (q1, q2) = (Fixture.queue(), Fixture.queue())
            let a = Fixture.task(queue: q1, notBefore: Fixture.at(100))
            let c = Fixture.task(queue: q2, notBefore: Fixture.at(5000))
            _ = try await b.enqueue([a, c], now: Fixture.t0)
            let promoted = try await b.promoteDue(now: Fixture.at(200))
            try expect(promoted.contains(q1) && !promoted.contains(q2), "promoted queues: \(promoted)")
            try expectEqual(try await b.task(id: a.record.id)?.status, .pending, "due task")
            try expectEqual(try await b.task(id: c.record.id)?.status, .scheduled, "not-yet-due task")
        },
        .init(.maintenance, "an expired lease is reaped as a failed attempt and its lease id goes stale") { b in
            let q = Fixture.queue()
            let t = Fixture.task(queue: q)
            _ = try await b.enqueue([t], now: Fixture.t0)
            let short = LeaseTerms(duration: .seconds(1), grace: .zero)
            let first = try await lease(b, [q], worker: "crashed", terms: short)[0]
            try expect(try await b.reapExpiredLeases(now: Fixture.at(999), limit: 100, decide: retry(at: 999)).isEmpty, "not yet expired")
            let reaped = try await b.reapExpiredLeases(now: Fixture.at(1000), limit: 100, decide: retry(at: 1000))
            try expectEqual(reaped.map(\.id), [t.record.id], "reaped")
            try expectEqual(reaped[0].status, .retrying, "reaped status")
            try expectEqual(reaped[0].errors.count, 1, "the expiry is in the error history")
            try expectEqual(reaped[0].errors.first?.startedAt, Fixture.t0, "with when the attempt started")
            try expect(try await b.reapExpiredLeases(now: Fixture.at(5000), limit: 100, decide: retry(at: 0)).isEmpty, "reaped once")
            let second = try await lease(b, [q], at: 1000, worker: "healthy")[0]
            try expectEqual(second.task.attempts, 2, "attempts after redelivery")
            try expect(second.leaseID != first.leaseID, "a new lease id")
            try await expectError(.conflict, "complete with the stale lease") {
                try await b.complete(leaseID: first.leaseID, result: nil, now: Fixture.at(1001))
            }
            try await expectError(.conflict, "heartbeat with the stale lease") {
                try await b.heartbeat(leaseID: first.leaseID, extension: short, now: Fixture.at(1001))
            }
            try await expectError(.conflict, "fail with the stale lease") {
                try await b.fail(leaseID: first.leaseID, message: "late", now: Fixture.at(1001), decide: bury)
            }
            try await expectError(.conflict, "release with the stale lease") {
                try await b.release(leaseID: first.leaseID, now: Fixture.at(1001))
            }
            try await expectError(.notFound, "an unknown lease id") {
                try await b.complete(leaseID: "no-such-lease-0000000000000000000000000000", result: nil, now: Fixture.at(1001))
            }
            let done = try await b.complete(leaseID: second.leaseID, result: nil, now: Fixture.at(1002))
            try expectEqual(done.status, .completed, "the live lease still completes")
            try expectEqual(done.workerID, "healthy", "worker of the live lease")
        },
        .init(.maintenance, "an expired lease on the last attempt buries the task") { b in
            let q = Fixture.queue()
            _ = try await b.enqueue([Fixture.task(queue: q, maxRetries: 0)], now: Fixture.t0)
            _ = try await lease(b, [q], terms: LeaseTerms(duration: .seconds(1), grace: .zero))
            let reaped = try await b.reapExpiredLeases(now: Fixture.at(1000), limit: 10, decide: bury)
            try expectEqual(reaped.map(\.status), [.dead], "status")
        },
        .init(.maintenance, "many concurrent reapers reap each lease once") { b in
            let q = Fixture.queue()
            _ = try await b.enqueue((0..<50).map { _ in Fixture.task(queue: q) }, now: Fixture.t0)
            _ = try await lease(b, [q], max: 50, terms: LeaseTerms(duration: .seconds(1), grace: .zero))
            let reaped = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<4 {
                    group.addTask { try await b.reapExpiredLeases(now: Fixture.at(2000), limit: 7, decide: retry(at: 9000)).map(\.id) }
                    group.addTask { try await b.reapExpiredLeases(now: Fixture.at(2000), limit: 100, decide: retry(at: 9000)).map(\.id) }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            try expectEqual(reaped.count, 50, "reaped count")
            try expectEqual(Set(reaped).count, 50, "distinct reaped")
        },
        .init(.maintenance, "an expired lease frees its lock key") { b in
            let q = Fixture.queue()
            let key = Fixture.uniqueID("k")
            _ = try await b.enqueue([Fixture.task(queue: q, lockKey: key), Fixture.task(queue: q, lockKey: key)], now: Fixture.t0)
            _ = try await lease(b, [q], max: 2, terms: LeaseTerms(duration: .seconds(1), grace: .zero))
            _ = try await b.reapExpiredLeases(now: Fixture.at(1000), limit: 10, decide: bury)
            try expectEqual(try await lease(b, [q], max: 2, at: 1001).count, 1, "the waiting task runs after the expiry")
        },
    ]
}
