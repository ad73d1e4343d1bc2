import Foundation
import HTTPTypes
import HummingbirdTesting
import SwitchboardCore
import SwitchboardJSON
import SwitchboardServer
import Testing

@Suite("Task endpoints", .timeLimit(.minutes(1)))
struct TaskEndpointTests {
    let h = ServerHarness()

    @Test("enqueue answers 201 with the task and where it lives; get returns it")
    func enqueueAndGet() async throws {
        try await h.test { client in
            let created = try await client.call(
                .post, "/v1/tasks",
                json: #"{"queue": "agents", "run_id": "run-1", "priority": 5, "metadata": {"user_id": "u1"}, "payload": {"tool_name": "echo", "input": {"path": "/etc/hosts"}, "reason": "gathering info"}}"#)
            #expect(created.status == .created)
            #expect(created.headers[.contentType] == "application/json")
            let id = try #require(created.body?.string("id"))
            #expect(created.headers[.location] == "/v1/tasks/\(id)")
            #expect(created.body?.string("status") == "pending")
            #expect(created.body?.string("queue") == "agents")
            #expect(created.body?.int("priority") == 5)
            #expect(created.body?.int("max_retries") == 3)
            #expect((created.body?["metadata"] as? [String: String]) == ["user_id": "u1"])
            let fetched = try await client.call(.get, "/v1/tasks/\(id)")
            #expect(fetched.status == .ok)
            #expect(fetched.body?.string("id") == id)
            #expect(((fetched.body?["payload"] as? [String: Any])?["input"] as? [String: Any])?["path"] as? String == "/etc/hosts")
        }
    }

    @Test("an Idempotency-Key replay answers 200 with the first task")
    func idempotentReplay() async throws {
        try await h.test { client in
            let first = try await client.call(.post, "/v1/tasks", json: echoTask, headers: [.init("Idempotency-Key")!: "k-1"])
            let second = try await client.call(.post, "/v1/tasks", json: echoTask, headers: [.init("Idempotency-Key")!: "k-1"])
            #expect(first.status == .created && second.status == .ok)
            #expect(first.body?.string("id") == second.body?.string("id"))
            let byID = #"{"id": "my-task-1", "payload": {"tool_name": "echo"}}"#
            #expect(try await client.call(.post, "/v1/tasks", json: byID).status == .created)
            #expect(try await client.call(.post, "/v1/tasks", json: byID).status == .ok)
            let list = try await client.call(.get, "/v1/tasks")
            #expect(list.body?.items.count == 2)
        }
    }

    @Test("bad input gets a problem naming what is wrong, and stores nothing")
    func badInput() async throws {
        try await h.test { client in
            expectProblem(try await client.call(.post, "/v1/tasks", json: "{not json"), .badRequest, mentioning: "invalid JSON")
            expectProblem(try await client.call(.post, "/v1/tasks", json: "[]"), .badRequest, mentioning: "object")
            expectProblem(try await client.call(.post, "/v1/tasks", json: #"{"type": "x"}"#), .unprocessableContent, mentioning: "payload")
            expectProblem(try await client.call(.post, "/v1/tasks", json: #"{"payload": 1, "type": "x", "priority": 300}"#), .unprocessableContent, mentioning: "priority")
            expectProblem(try await client.call(.post, "/v1/tasks", json: #"{"payload": 1, "type": "x", "prority": 3}"#), .unprocessableContent, mentioning: "prority")
            expectProblem(try await client.call(.post, "/v1/tasks", json: #"{"payload": {}}"#), .unprocessableContent, mentioning: "tool_name")
            expectProblem(
                try await client.call(.post, "/v1/tasks", json: echoTask, headers: [.init("Idempotency-Key")!: "é"]),
                .unprocessableContent, mentioning: "Idempotency-Key")
            expectProblem(try await client.call(.get, "/v1/tasks?status=bogus"), .unprocessableContent, mentioning: "status")
            expectProblem(try await client.call(.get, "/v1/tasks?limit=0"), .unprocessableContent, mentioning: "limit")
            expectProblem(try await client.call(.get, "/v1/tasks?queue=a%20b"), .unprocessableContent, mentioning: "queue")
            expectProblem(try await client.call(.get, "/v1/tasks?cursor=zzz"), .unprocessableContent, mentioning: "cursor")
            expectProblem(try await client.call(.get, "/v1/tasks/nope"), .notFound, mentioning: "nope")
            expectProblem(try await client.call(.get, "/v1/nothing-here"), .notFound)
            #expect(try await client.call(.get, "/v1/tasks").body?.items.isEmpty == true)
        }
    }

    @Test("a body over the limit gets 413 and stores nothing")
    func tooLarge() async throws {
        let small = ServerHarness(maxBodyBytes: 64)
        try await small.test { client in
            let big = #"{"payload": {"tool_name": "echo", "input": ""# + String(repeating: "a", count: 100) + #""}}"#
            expectProblem(try await client.call(.post, "/v1/tasks", json: big), .contentTooLarge, mentioning: "64")
            #expect(try await client.call(.get, "/v1/tasks").body?.items.isEmpty == true)
        }
    }

    @Test("a payload over its own limit gets 413")
    func payloadTooLarge() async throws {
        let small = ServerHarness { $0.limits.maxPayloadBytes = 32 }
        try await small.test { client in
            let big = #"{"payload": {"tool_name": "echo", "input": ""# + String(repeating: "a", count: 40) + #""}}"#
            expectProblem(try await client.call(.post, "/v1/tasks", json: big), .contentTooLarge, mentioning: "payload")
        }
    }

    @Test("a batch is stored whole or not at all")
    func batch() async throws {
        try await h.test { client in
            let ok = try await client.call(.post, "/v1/tasks/batch", json: #"{"items": [\#(echoTask), \#(echoTask)]}"#)
            #expect(ok.status == .created)
            #expect(ok.body?.items.count == 2)
            let bad = try await client.call(.post, "/v1/tasks/batch", json: #"{"items": [\#(echoTask), {"payload": 1, "type": "X"}]}"#)
            expectProblem(bad, .unprocessableContent, mentioning: "items[1]")
            expectProblem(try await client.call(.post, "/v1/tasks/batch", json: #"{"items": []}"#), .unprocessableContent)
            expectProblem(try await client.call(.post, "/v1/tasks/batch", json: #"{"items": [1]}"#), .unprocessableContent, mentioning: "items[0]")
            expectProblem(try await client.call(.post, "/v1/tasks/batch", json: #"{}"#), .unprocessableContent, mentioning: "items")
            #expect(try await client.call(.get, "/v1/tasks").body?.items.count == 2)
        }
    }

    @Test("lists filter and page without gaps or repeats")
    func paging() async throws {
        try await h.test { client in
            for i in 0..<25 {
                let queue = i % 2 == 0 ? "even" : "odd"
                try await client.call(.post, "/v1/tasks", json: #"{"queue": "\#(queue)", "type": "job", "run_id": "r\#(i % 3)", "payload": \#(i)}"#)
            }
            var seen: [Int] = []
            var cursor: String?
            repeat {
                let uri = "/v1/tasks?queue=even&limit=4" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try #require(try await client.call(.get, uri).body)
                seen += page.items.compactMap { $0["payload"] as? Int }
                cursor = page.string("next_cursor")
            } while cursor != nil
            #expect(seen == Array(stride(from: 0, to: 25, by: 2)))
            let byRun = try await client.call(.get, "/v1/tasks?run_id=r1&type=job")
            #expect(byRun.body?.items.compactMap { $0["payload"] as? Int } == [1, 4, 7, 10, 13, 16, 19, 22])
            let pending = try await client.call(.get, "/v1/tasks?status=pending&queue=odd&limit=1000")
            #expect(pending.body?.items.count == 12)
            #expect(pending.body?["next_cursor"] is NSNull)
        }
    }

    @Test("lists filter by tool_name and metadata (KEY:VALUE, repeatable); malformed filters are refused")
    func toolAndMetadataFilters() async throws {
        try await h.test { client in
            for (tool, env) in [("search", "prod"), ("fetch", "prod"), ("search", "dev")] {
                try await client.call(
                    .post, "/v1/tasks",
                    json: #"{"queue": "filtered", "metadata": {"env": "\#(env)", "url": "https://x"}, "payload": {"tool_name": "\#(tool)"}}"#)
            }
            func tools(_ query: String) async throws -> [String] {
                let page = try await client.call(.get, "/v1/tasks?queue=filtered&" + query)
                #expect(page.status == .ok, "\(query)")
                return page.body?.items.compactMap { ($0["payload"] as? [String: Any])?["tool_name"] as? String } ?? []
            }
            #expect(try await tools("tool_name=search") == ["search", "search"])
            #expect(try await tools("metadata=env:prod") == ["search", "fetch"])
            #expect(try await tools("metadata=env:prod&tool_name=fetch") == ["fetch"])
            #expect(try await tools("metadata=url:https://x&metadata=env:dev") == ["search"], "the value may hold colons")
            #expect(try await tools("metadata=env:prod&metadata=env:dev") == [], "one key, two values: nothing matches")
            let none = try await client.call(.get, "/v1/tasks?metadata=env:prod&metadata=env:dev")
            #expect(none.body?["next_cursor"] is NSNull, "a page like any other")
            for bad in ["metadata=nocolon", "metadata=:empty-key", "tool_name="] {
                expectProblem(try await client.call(.get, "/v1/tasks?" + bad), .unprocessableContent)
            }
        }
    }

    @Test("cancel: pending at once, running on request, finished refused")
    func cancel() async throws {
        try await h.test { client in
            let pending = try #require(try await client.call(.post, "/v1/tasks", json: echoTask).body?.string("id"))
            let cancelled = try await client.call(.post, "/v1/tasks/\(pending)/cancel")
            #expect(cancelled.status == .ok && cancelled.body?.string("status") == "cancelled")
            let running = try #require(try await client.call(.post, "/v1/tasks", json: echoTask).body?.string("id"))
            let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w")).first)
            #expect(try await client.call(.post, "/v1/tasks/\(running)/cancel").body?.string("status") == "running")
            #expect(try await h.engine.heartbeat(leaseID: lease.leaseID, extendBy: nil).cancelRequested)
            _ = try await h.engine.fail(leaseID: lease.leaseID, failure: TaskFailureReport(message: "stopped"))
            #expect(try await client.call(.get, "/v1/tasks/\(running)").body?.string("status") == "cancelled")
            let done = try #require(try await client.call(.post, "/v1/tasks", json: echoTask).body?.string("id"))
            let l2 = try #require(try await h.engine.lease(LeaseRequest(workerID: "w")).first)
            _ = try await h.engine.complete(leaseID: l2.leaseID, result: nil)
            expectProblem(try await client.call(.post, "/v1/tasks/\(done)/cancel"), .conflict, mentioning: "completed")
            expectProblem(try await client.call(.post, "/v1/tasks/unknown/cancel"), .notFound)
        }
    }

    @Test("a run shows counts per state and its tasks")
    func run() async throws {
        try await h.test { client in
            for _ in 0..<3 {
                try await client.call(.post, "/v1/tasks", json: #"{"run_id": "run-7", "payload": {"tool_name": "echo"}}"#)
            }
            _ = try await h.engine.cancel(id: try #require(try await h.engine.list().items.first?.id))
            let run = try await client.call(.get, "/v1/runs/run-7")
            #expect(run.status == .ok)
            #expect(run.body?.string("run_id") == "run-7")
            let counts = try #require(run.body?["counts"] as? [String: Int])
            #expect(counts["pending"] == 2 && counts["cancelled"] == 1 && counts["completed"] == 0)
            #expect((run.body?["tasks"] as? [Any])?.count == 3)
            expectProblem(try await client.call(.get, "/v1/runs/none"), .notFound)
        }
    }

    @Test("recent runs come newest first with counts, page by cursor, and refuse a bad limit or cursor")
    func recentRuns() async throws {
        try await h.test { client in
            for run in ["run-a", "run-b", "run-a", "run-c"] {
                try await client.call(.post, "/v1/tasks", json: #"{"run_id": "\#(run)", "queue": "q-\#(run)", "payload": {"tool_name": "echo"}}"#)
            }
            try await client.call(.post, "/v1/tasks", json: echoTask)
            let first = try await client.call(.get, "/v1/runs?limit=2")
            #expect(first.status == .ok)
            let items = try #require(first.body?.items)
            #expect(items.compactMap { $0["run_id"] as? String } == ["run-c", "run-a"])
            #expect((items[1]["counts"] as? [String: Int])?["pending"] == 2)
            #expect(items[1]["total"] as? Int == 2)
            #expect(items[1]["queues"] as? [String] == ["q-run-a"])
            #expect(items[1]["created_at"] is String && items[1]["updated_at"] is String)
            let cursor = try #require(first.body?.string("next_cursor"))
            let second = try await client.call(.get, "/v1/runs?limit=2&cursor=\(cursor)")
            #expect(second.body?.items.compactMap { $0["run_id"] as? String } == ["run-b"])
            #expect(second.body?["next_cursor"] is NSNull)
            expectProblem(try await client.call(.get, "/v1/runs?limit=0"), .unprocessableContent, mentioning: "limit")
            expectProblem(try await client.call(.get, "/v1/runs?limit=x"), .unprocessableContent)
            expectProblem(try await client.call(.get, "/v1/runs?cursor=nope"), .unprocessableContent, mentioning: "cursor")
        }
    }

    @Test("a queue reports when its longest-waiting pending task became ready")
    func queueLatency() async throws {
        try await h.test { client in
            let before = try await client.call(.get, "/v1/queues")
            #expect(before.body?.items.isEmpty == true)
            try await client.call(.post, "/v1/tasks", json: echoTask)
            let queue = try #require(try await client.call(.get, "/v1/queues").body?.items.first)
            let since = try #require(queue["oldest_pending_at"] as? String)
            let task = try #require(try await h.engine.list().items.first)
            #expect(since == task.createdAt.description)
            _ = try await h.engine.lease(LeaseRequest(workerID: "w"))
            #expect(try await client.call(.get, "/v1/queues").body?.items.first?["oldest_pending_at"] is NSNull)
        }
    }

    @Test("a known path with another method gets 405 and Allow")
    func methodNotAllowed() async throws {
        try await h.test { client in
            let response = try await client.call(.put, "/v1/tasks")
            expectProblem(response, .methodNotAllowed)
            #expect(response.headers[.allow]?.contains("POST") == true)
            #expect(response.headers[.allow]?.contains("GET") == true)
            let batch = try await client.call(.delete, "/v1/tasks/batch")
            #expect(batch.status == .methodNotAllowed)
            #expect(batch.headers[.allow] == "POST")
        }
    }
}
