import SwitchboardCore

// An optional ability: operators' actions on dead tasks.
extension BackendConformance {
    static let deadLetterAdministration: [BackendConformanceCheck] = [
        .init(.deadLetterAdministration, "the dead-letter queue lists, requeues, deletes and purges with filters") { b in
            let (q1, q2) = (Fixture.queue(), Fixture.queue())
            let tasks = [
                Fixture.task(queue: q1, type: "alpha"), Fixture.task(queue: q1, type: "beta"),
                Fixture.task(queue: q2, type: "alpha"), Fixture.task(queue: q2, type: "beta"),
                Fixture.task(queue: q2, type: "beta"),
            ]
            _ = try await b.enqueue(tasks, now: Fixture.t0)
            var buriedOrder: [String] = []
            for (q, n) in [(q2, 3), (q1, 2)] {
                for l in try await lease(b, [q], max: n) {
                    _ = try await b.fail(leaseID: l.leaseID, message: "x", now: Fixture.at(5), decide: bury)
                    buriedOrder.append(l.task.id)
                }
            }
            let all = try await b.list(TaskFilter(status: .dead), page: PageRequest(limit: 1000))
            let mine = all.items.map(\.id).filter(buriedOrder.contains)
            try expectEqual(mine, buriedOrder, "dead tasks in burial order")
            let q2beta = try await b.list(TaskFilter(queue: q2, status: .dead, type: "beta"), page: PageRequest())
            try expectEqual(q2beta.items.map(\.id), [tasks[3].record.id, tasks[4].record.id], "filtered DLQ")

            let requeued = try await deadLetters(b).requeueDead(id: tasks[0].record.id, now: Fixture.at(10))
            try expectEqual(requeued.status, .pending, "requeued status")
            try expectEqual(requeued.attempts, 0, "requeued attempts")
            try await expectError(.notFound, "requeue a task that is not dead") {
                try await deadLetters(b).requeueDead(id: tasks[0].record.id, now: Fixture.at(11))
            }
            try expectEqual(try await deadLetters(b).requeueDead(matching: TaskFilter(queue: q2, type: "beta"), now: Fixture.at(12)), 2, "requeued by filter")
            try expectEqual(try await lease(b, [q2], max: 10, at: 13).count, 2, "requeued tasks are leasable")

            try await deadLetters(b).deleteDead(id: tasks[1].record.id)
            try expectEqual(try await b.task(id: tasks[1].record.id), nil, "deleted task")
            try await expectError(.notFound, "delete a task that is not dead") { try await deadLetters(b).deleteDead(id: tasks[1].record.id) }
            try expectEqual(try await deadLetters(b).purgeDead(matching: TaskFilter(queue: q2)), 1, "purged by filter")
            try expectEqual(try await b.task(id: tasks[2].record.id), nil, "purged task")
            let left = try await b.list(TaskFilter(queue: q1, status: .dead), page: PageRequest())
            try expect(left.items.isEmpty, "nothing dead left in \(q1)")
        },
        .init(.deadLetterAdministration, "a requeued task starts afresh: attempts and releases back to 0") { b in
            let q = Fixture.queue()
            let t = Fixture.task(queue: q, maxRetries: 0)
            _ = try await b.enqueue([t], now: Fixture.t0)
            let first = try await lease(b, [q], at: 1)[0]
            _ = try await b.release(leaseID: first.leaseID, now: Fixture.at(2), maxReleases: 0, decide: bury)
            try expectEqual(try await b.task(id: t.record.id)?.status, .dead, "buried by a release past the limit")
            let requeued = try await deadLetters(b).requeueDead(id: t.record.id, now: Fixture.at(3))
            try expectEqual(requeued.attempts, 0, "attempts")
            try expectEqual(requeued.releases, 0, "releases")
            try expectEqual(try await lease(b, [q], at: 4).map(\.task.releases), [0], "leased afresh")
        },
    ]
}
