import SwitchboardCore

// Reading: listing with filters and cursors, queue depths.
extension BackendConformance {
    static let queries: [BackendConformanceCheck] = [
        .init(.queries, "queue depth counts every state") { b in
            let q = Fixture.queue()
            let tasks = (0..<6).map { _ in Fixture.task(queue: q) } + [Fixture.task(queue: q, notBefore: Fixture.at(99_999))]
            _ = try await b.enqueue(tasks, now: Fixture.t0)
            let l = try await lease(b, [q], max: 4)
            _ = try await b.complete(leaseID: l[0].leaseID, result: nil, now: Fixture.at(1))
            _ = try await b.fail(leaseID: l[1].leaseID, message: "x", now: Fixture.at(1), decide: retry(at: 50_000))
            _ = try await b.fail(leaseID: l[2].leaseID, message: "x", now: Fixture.at(1), decide: bury)
            _ = try await b.cancel(id: tasks[5].record.id, now: Fixture.at(1))
            let info = try unwrap(try await b.queues().first { $0.name == q }, "queue listed")
            let expected: [TaskStatus: Int] = [
                .scheduled: 1, .pending: 1, .running: 1, .retrying: 1, .completed: 1, .dead: 1, .cancelled: 1,
            ]
            try expectEqual(info.depth, expected, "depth")
        },
        .init(.queries, "a queue's latency is when its longest-waiting ready task became ready, whatever its priority") { b in
            let q = Fixture.queue()
            func oldest() async throws -> Timestamp? {
                let queues = try await b.queues()
                return queues.first(where: { $0.name == q })?.oldestPendingSince
            }
            let (low, urgent, later) = (
                Fixture.task(queue: q, now: Fixture.at(0)), Fixture.task(queue: q, priority: 9, now: Fixture.at(10)),
                Fixture.task(queue: q, now: Fixture.at(20))
            )
            _ = try await b.enqueue([low], now: Fixture.at(0))
            _ = try await b.enqueue([urgent], now: Fixture.at(10))
            _ = try await b.enqueue([later], now: Fixture.at(20))
            try expectEqual(try await oldest(), Fixture.at(0), "the oldest of three")
            try expectEqual(try await lease(b, [q], at: 30).map(\.task.id), [urgent.record.id], "priority leases first")
            try expectEqual(try await oldest(), Fixture.at(0), "still the low-priority one")
            let taken = try await lease(b, [q], at: 40)
            try expectEqual(taken.map(\.task.id), [low.record.id], "then the oldest")
            try expectEqual(try await oldest(), Fixture.at(20), "the next oldest")
            _ = try await lease(b, [q], at: 50)
            try expectEqual(try await oldest(), nil, "none pending")
            _ = try await b.fail(leaseID: taken[0].leaseID, message: "x", now: Fixture.at(60), decide: retry(at: 70))
            _ = try await b.promoteDue(now: Fixture.at(80))
            try expectEqual(try await oldest(), Fixture.at(70), "a retried task waits from when it came due")
        },
        .init(.queries, "list filters by queue, status, type and run") { b in
            let (q1, q2) = (Fixture.queue(), Fixture.queue())
            let run = Fixture.uniqueID("run")
            let tasks = [
                Fixture.task(queue: q1, type: "plan", runID: run), Fixture.task(queue: q1, type: "tool_call", runID: run),
                Fixture.task(queue: q2, type: "plan", runID: run), Fixture.task(queue: q2, type: "plan"),
            ]
            _ = try await b.enqueue(tasks, now: Fixture.t0)
            _ = try await lease(b, [q2])
            func ids(_ f: TaskFilter) async throws -> [String] { try await b.list(f, page: PageRequest()).items.map(\.id) }
            try expectEqual(try await ids(TaskFilter(queue: q1)), [tasks[0].record.id, tasks[1].record.id], "by queue")
            try expectEqual(try await ids(TaskFilter(runID: run)), tasks[0...2].map(\.record.id), "by run")
            try expectEqual(try await ids(TaskFilter(queue: q2, status: .running)), [tasks[2].record.id], "by status")
            try expectEqual(try await ids(TaskFilter(type: "plan", runID: run)), [tasks[0].record.id, tasks[2].record.id], "by run and type")
            try expectEqual(try await ids(TaskFilter(runID: Fixture.uniqueID())), [], "unknown run")
        },
        .init(.queries, "list filters by the payload's tool_name and by metadata entries") { b in
            let q = Fixture.queue()
            func task(tool: String?, metadata: [String: String]) -> NewTask {
                let payload = tool.map { #"{"tool_name":"\#($0)","input":{}}"# } ?? #"[1,2]"#
                var t = Fixture.task(queue: q, payload: payload)
                t.record.metadata = metadata
                return t
            }
            let tasks = [
                task(tool: "search", metadata: ["env": "prod", "team": "a"]), task(tool: "fetch", metadata: ["env": "prod"]),
                task(tool: "search", metadata: ["env": "dev", "team": "a"]), task(tool: nil, metadata: ["env": "prod", "team": "a"]),
            ]
            _ = try await b.enqueue(tasks, now: Fixture.t0)
            func ids(_ f: TaskFilter) async throws -> [String] { try await b.list(f, page: PageRequest()).items.map(\.id) }
            let id = tasks.map(\.record.id)
            try expectEqual(try await ids(TaskFilter(queue: q, toolName: "search")), [id[0], id[2]], "by tool")
            try expectEqual(try await ids(TaskFilter(queue: q, metadata: ["env": "prod"])), [id[0], id[1], id[3]], "by one entry")
            try expectEqual(try await ids(TaskFilter(queue: q, metadata: ["env": "prod", "team": "a"])), [id[0], id[3]], "by two entries")
            try expectEqual(try await ids(TaskFilter(queue: q, toolName: "search", metadata: ["env": "prod"])), [id[0]], "tool and entry")
            try expectEqual(try await ids(TaskFilter(queue: q, metadata: ["env": "staging"])), [], "no match")
            try expectEqual(try await ids(TaskFilter(queue: q, toolName: "nope")), [], "unknown tool")
        },
        .init(.queries, "paging has no gaps or repeats while tasks are added") { b in
            let q = Fixture.queue()
            let initial = (0..<103).map { _ in Fixture.task(queue: q) }
            _ = try await b.enqueue(initial, now: Fixture.t0)
            // A producer enqueues concurrently with the pager.
            let producer = Task {
                var added: [String] = []
                for i in 0..<60 {
                    let extra = Fixture.task(queue: q)
                    _ = try await b.enqueue([extra], now: Fixture.at(Int64(i)))
                    added.append(extra.record.id)
                    await Task.yield()
                }
                return added
            }
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await b.list(TaskFilter(queue: q), page: PageRequest(limit: 10, cursor: cursor))
                try expect(page.items.count <= 10, "page size")
                seen += page.items.map(\.id)
                cursor = page.nextCursor
                pages += 1
                await Task.yield()
            } while cursor != nil && pages < 100
            let added = try await producer.value
            try expectEqual(seen.count, Set(seen).count, "no repeats")
            try expectEqual(Array(seen.prefix(initial.count)), initial.map(\.record.id), "every earlier task, in creation order")
            let late = Array(seen.dropFirst(initial.count))
            try expectEqual(late, Array(added.prefix(late.count)), "tasks added meanwhile follow in creation order, without gaps")
            // Paging again from the start sees everything.
            var all: [String] = []
            cursor = nil
            repeat {
                let page = try await b.list(TaskFilter(queue: q), page: PageRequest(limit: 25, cursor: cursor))
                all += page.items.map(\.id)
                cursor = page.nextCursor
            } while cursor != nil
            try expectEqual(all, initial.map(\.record.id) + added, "a second pass sees every task once")
            try await expectError(.invalid, "a made-up cursor") {
                try await b.list(TaskFilter(queue: q), page: PageRequest(limit: 10, cursor: "garbage!"))
            }
        },
        .init(.queries, "an empty filter result has no next cursor") { b in
            let page = try await b.list(TaskFilter(queue: Fixture.queue()), page: PageRequest(limit: 5))
            try expect(page.items.isEmpty && page.nextCursor == nil, "empty last page")
        },
    ]
}
