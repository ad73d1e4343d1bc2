import SwitchboardCore

// An optional ability: listing agent runs, the most recently active first.
extension BackendConformance {
    static let runListing: [BackendConformanceCheck] = [
        .init(.runListing, "runs come newest task first, page by cursor, and go when their last task goes") { b in
            let q = Fixture.queue()
            let (older, newer) = (Fixture.uniqueID("run"), Fixture.uniqueID("run"))
            let first = Fixture.task(queue: q, runID: older)
            _ = try await b.enqueue([first, Fixture.task(queue: q)], now: Fixture.at(0))
            _ = try await b.enqueue([Fixture.task(queue: q, runID: newer)], now: Fixture.at(10))
            let one = try await runs(b).runs(page: PageRequest(limit: 1))
            try expectEqual(one.items, [newer], "the newest run first")
            let two = try await runs(b).runs(page: PageRequest(limit: 1, cursor: try unwrap(one.nextCursor, "a next page")))
            try expectEqual(two.items, [older], "then the older one")

            // A new task moves its run to the front, once.
            _ = try await b.enqueue([Fixture.task(queue: q, runID: older)], now: Fixture.at(20))
            try expectEqual(Array(try await runs(b).runs(page: PageRequest(limit: 2)).items), [older, newer], "the active run first")

            // A run whose every task is gone is not listed.
            let lease = try unwrap(try await lease(b, [q], at: 30).first, "a lease")
            try expectEqual(lease.task.id, first.record.id, "the first task")
            let all = try await b.list(TaskFilter(runID: older), page: PageRequest()).items
            for task in all where task.id != first.record.id { _ = try await b.cancel(id: task.id, now: Fixture.at(30)) }
            _ = try await b.fail(leaseID: lease.leaseID, message: "x", now: Fixture.at(40), decide: bury)
            try expect(try await listed(b).contains(older), "a run with a dead and a cancelled task is listed")
            try await deadLetters(b).deleteDead(id: first.record.id)
            _ = try await retention(b).trim(finishedBefore: Fixture.at(1_000_000), keepAtMost: 1_000_000, now: Fixture.at(50))
            try expect(!(try await listed(b).contains(older)), "a run without tasks is gone")
            try expect(try await listed(b).contains(newer), "the other run stays")
            try await expectError(.invalid, "a made-up cursor") { try await runs(b).runs(page: PageRequest(cursor: "garbage!")) }
        },
    ]

    private static func listed(_ b: any TaskBackend) async throws -> [String] {
        var all: [String] = []
        var cursor: String?
        repeat {
            let page = try await runs(b).runs(page: PageRequest(limit: 100, cursor: cursor))
            all += page.items
            cursor = page.nextCursor
        } while cursor != nil
        return all
    }
}
