import SwitchboardCore

// An optional ability: pausing and resuming a queue.
extension BackendConformance {
    static let queuePausing: [BackendConformanceCheck] = [
        .init(.queuePausing, "nextDeadline leaves out paused queues, whose due tasks cannot be leased") { b in
            let q = Fixture.queue()
            _ = try await b.enqueue([Fixture.task(queue: q, notBefore: Fixture.at(100))], now: Fixture.t0)
            _ = try await pausing(b).setPaused(true, queue: q)
            try expectEqual(try await b.nextDeadline(queues: [q]), nil, "paused queue")
            _ = try await pausing(b).setPaused(false, queue: q)
            try expectEqual(try await b.nextDeadline(queues: [q]), Fixture.at(100), "resumed queue")
        },
        .init(.queuePausing, "pause stops leasing, not enqueueing; resume restores order") { b in
            let q = Fixture.queue()
            let first = Fixture.task(queue: q)
            _ = try await b.enqueue([first], now: Fixture.t0)
            let paused = try await pausing(b).setPaused(true, queue: q)
            try expect(paused.paused, "paused flag")
            let second = Fixture.task(queue: q)
            _ = try await b.enqueue([second], now: Fixture.at(1))
            try expect(try await lease(b, [q], max: 5, at: 2).isEmpty, "no lease from a paused queue")
            let listed = try await b.queues().first { $0.name == q }
            try expectEqual(listed?.paused, true, "listed as paused")
            try expectEqual(listed?.depth[.pending], 2, "pending while paused")
            _ = try await pausing(b).setPaused(false, queue: q)
            try expectEqual(try await lease(b, [q], max: 5, at: 3).map(\.task.id), [first.record.id, second.record.id], "order after resume")
        },
    ]
}
