import Foundation
import HTTPTypes
import HummingbirdTesting
import SwitchboardCore
import SwitchboardJSON
import SwitchboardServer
import SwitchboardTesting
import Testing

@Suite("Lease and worker endpoints", .timeLimit(.minutes(1)))
struct LeaseEndpointTests {
    let h = ServerHarness()

    @Test("lease, heartbeat, complete: the remote worker's round trip")
    func roundTrip() async throws {
        try await h.test { client in
            let created = try await client.call(.post, "/v1/tasks", json: #"{"queue": "remote", "payload": {"tool_name": "echo"}}"#)
            let id = try #require(created.body?.string("id"))
            let leased = try await client.call(
                .post, "/v1/leases",
                json: #"{"worker_id": "rw-1", "queues": ["other", "remote"], "max_tasks": 5, "lease_ms": 10000, "host": "box-1", "slots": 4}"#)
            #expect(leased.status == .ok)
            let item = try #require(leased.body?.items.first)
            #expect(leased.body?.items.count == 1)
            let leaseID = try #require(item["lease_id"] as? String)
            #expect((item["task"] as? [String: Any])?["id"] as? String == id)
            #expect((item["task"] as? [String: Any])?["status"] as? String == "running")
            #expect(item["expires_at"] is String)

            let beat = try await client.call(.post, "/v1/leases/\(leaseID)/heartbeat", json: #"{"extend_ms": 20000, "worker_id": "rw-1"}"#)
            #expect(beat.status == .ok)
            #expect(beat.body?["cancel_requested"] as? Bool == false)
            #expect(beat.body?.string("expires_at") != nil)

            let workers = try await client.call(.get, "/v1/workers")
            let worker = try #require(workers.body?.items.first { $0["id"] as? String == "rw-1" })
            #expect(worker["host"] as? String == "box-1" && worker["slots"] as? Int == 4 && worker["busy"] as? Int == 1)
            #expect(worker["state"] as? String == "active")

            let done = try await client.call(.post, "/v1/leases/\(leaseID)/complete", json: #"{"result": {"ok": true}}"#)
            #expect(done.status == .ok)
            #expect(done.body?.string("status") == "completed")
            #expect((done.body?["result"] as? [String: Bool]) == ["ok": true])

            // The lease is spent: a late complete is refused and changes nothing.
            expectProblem(try await client.call(.post, "/v1/leases/\(leaseID)/complete", json: "{}"), .conflict)
            expectProblem(try await client.call(.post, "/v1/leases/\(leaseID)/heartbeat"), .conflict)
            expectProblem(try await client.call(.post, "/v1/leases/00000000000000000000000000000000nope/complete"), .notFound)
            #expect(try await client.call(.get, "/v1/tasks/\(id)").body?.string("status") == "completed")

            let after = try await client.call(.get, "/v1/workers")
            let counters = try #require(after.body?.items.first { $0["id"] as? String == "rw-1" }?["counters"] as? [String: Int])
            #expect(counters["leased"] == 1 && counters["completed"] == 1)
            #expect(after.body?.items.first { $0["id"] as? String == "rw-1" }?["busy"] as? Int == 0)
        }
    }

    @Test("a worker says which tools it runs; GET /v1/workers shows them; bad lists are refused")
    func tools() async throws {
        try await h.test { client in
            let lease = #"{"worker_id": "mcp-1", "tools": [{"name": "py.add", "description": "Adds.", "input_schema": {"type": "object"}}, {"name": "echo"}]}"#
            #expect(try await client.call(.post, "/v1/leases", json: lease).status == .ok)
            let workers = try await client.call(.get, "/v1/workers")
            #expect(workers.body?.items.first?["tools"] as? [String] == ["echo", "py.add"])
            // A call without tools leaves them as they were.
            #expect(try await client.call(.post, "/v1/leases", json: #"{"worker_id": "mcp-1"}"#).status == .ok)
            #expect(try await client.call(.get, "/v1/workers").body?.items.first?["tools"] as? [String] == ["echo", "py.add"])
            let many = "[" + (0...1000).map { "{\"name\": \"t\($0)\"}" }.joined(separator: ",") + "]"
            #expect(h.engine.workers.list(now: h.clock.now()).first?.tools.first { $0.name == "py.add" }?.inputSchema?.description == #"{"type": "object"}"#)
            for bad in [
                #""tools": [1]"#, #""tools": ["echo"]"#, #""tools": [{"name": ""}]"#, #""tools": [{"description": "x"}]"#,
                #""tools": [{"name": "x", "input_schema": 3}]"#, #""tools": [{"name": "x", "extra": 1}]"#, "\"tools\": \(many)",
            ] {
                expectProblem(try await client.call(.post, "/v1/leases", json: #"{"worker_id": "mcp-2", \#(bad)}"#), .unprocessableContent)
            }
            #expect(try await client.call(.get, "/v1/workers").body?.items.count == 1, "refused calls record nothing")
        }
    }

    @Test("an in-process worker tells its tools with its first lease")
    func inProcessTools() async throws {
        let worker = Worker(
            configuration: Worker.Configuration(id: "local", concurrency: 2, pollInterval: .milliseconds(10)), source: h.engine,
            locks: MemoryLockService(), tools: .builtins())
        let running = Task { try await worker.run() }
        defer { worker.stop(); running.cancel() }
        while h.engine.workers.list(now: h.clock.now()).first?.tools.isEmpty ?? true { try await Task.sleep(for: .milliseconds(5)) }
        #expect(h.engine.workers.list(now: h.clock.now()).first?.tools.map(\.name) == ["echo", "fail", "sleep"])
    }

    @Test("fail retries or buries; release gives the attempt back; an empty body is {}")
    func failAndRelease() async throws {
        try await h.test { client in
            _ = try await client.call(.post, "/v1/tasks", json: #"{"payload": {"tool_name": "echo"}, "max_retries": 1}"#)
            func leaseOne() async throws -> String {
                let leased = try await client.call(.post, "/v1/leases", json: #"{"worker_id": "rw-2"}"#)
                return try #require(leased.body?.items.first?["lease_id"] as? String)
            }
            let first = try await leaseOne()
            let released = try await client.call(.post, "/v1/leases/\(first)/release")
            #expect(released.body?.string("status") == "pending" && released.body?.int("attempts") == 0)

            let second = try await leaseOne()
            let retried = try await client.call(.post, "/v1/leases/\(second)/fail", json: #"{"error": "flaky"}"#)
            #expect(retried.body?.string("status") == "retrying" && retried.body?.string("error") == "flaky")
            h.clock.advance(by: .seconds(5))
            _ = try await h.engine.performMaintenance()
            let third = try await leaseOne()
            let dead = try await client.call(.post, "/v1/leases/\(third)/fail", json: #"{"error": "broken", "retryable": false}"#)
            #expect(dead.body?.string("status") == "dead")
        }
    }

    @Test("a worker's own retry limit and base delay travel with its failure; bad ones are refused and change nothing")
    func workerRetrySettings() async throws {
        try await h.test { client in
            _ = try await client.call(.post, "/v1/tasks", json: #"{"payload": {"tool_name": "echo"}, "max_retries": 5}"#)
            let leased = try await client.call(.post, "/v1/leases", json: #"{"worker_id": "rw-3"}"#)
            let lease = try #require(leased.body?.items.first?["lease_id"] as? String)
            for (body, field) in [
                (#"{"error": "x", "max_retries": -1}"#, "max_retries"), (#"{"error": "x", "max_retries": 101}"#, "max_retries"),
                (#"{"error": "x", "retry_delay_ms": -5}"#, "retry_delay_ms"), (#"{"error": "x", "retry_delay_ms": 600001}"#, "retry_delay_ms"),
            ] {
                expectProblem(try await client.call(.post, "/v1/leases/\(lease)/fail", json: body), .unprocessableContent, mentioning: field)
            }
            #expect(try await h.engine.list(TaskFilter(status: .running), page: PageRequest(limit: 5)).items.count == 1, "still running")
            // The task allows five retries; the worker's own limit of zero buries it at once.
            let dead = try await client.call(.post, "/v1/leases/\(lease)/fail", json: #"{"error": "x", "max_retries": 0}"#)
            #expect(dead.body?.string("status") == "dead")
        }
    }

    @Test("a batch of completions: each item stands alone and says how it went")
    func completeBatch() async throws {
        try await h.test { client in
            _ = try await client.call(.post, "/v1/tasks/batch", json: #"{"items": [{"payload": {"tool_name": "echo"}}, {"payload": {"tool_name": "echo"}}]}"#)
            let leased = try await client.call(.post, "/v1/leases", json: #"{"worker_id": "batcher", "max_tasks": 2}"#)
            let ids = leased.body?.items.compactMap { $0["lease_id"] as? String } ?? []
            try #require(ids.count == 2)
            _ = try await client.call(.post, "/v1/leases/\(ids[1])/complete")
            let answer = try await client.call(
                .post, "/v1/leases/complete",
                json: "{\"items\": [{\"lease_id\": \"\(ids[0])\", \"result\": [1]}, {\"lease_id\": \"\(ids[1])\"}, {\"lease_id\": \"00000000000000000000000000000000zz\"}]}")
            #expect(answer.status == .ok)
            let items = answer.body?.items ?? []
            #expect(items.map { $0["status"] as? Int } == [200, 409, 404])
            #expect((items[0]["task"] as? [String: Any])?["status"] as? String == "completed")
            #expect((items[1]["detail"] as? String)?.isEmpty == false)
            _ = try await client.call(.post, "/v1/tasks", json: #"{"payload": {"tool_name": "echo"}}"#)
            let next = try await client.call(.post, "/v1/leases", json: #"{"worker_id": "batcher", "max_tasks": 1}"#)
            let id = try #require(next.body?.items.first?["lease_id"] as? String)
            let quiet = try await client.call(
                .post, "/v1/leases/complete", json: "{\"items\": [{\"lease_id\": \"\(id)\"}], \"return_tasks\": false}")
            #expect(quiet.body?.items.map { $0["status"] as? Int } == [200])
            #expect(quiet.body?.items.first?["task"] == nil, "return_tasks false answers statuses only")
            expectProblem(try await client.call(.post, "/v1/leases/complete", json: #"{"items": []}"#), .unprocessableContent, mentioning: "items")
            expectProblem(try await client.call(.post, "/v1/leases/complete", json: #"{"items": [{"result": 1}]}"#), .unprocessableContent, mentioning: "lease_id")
        }
    }

    @Test("a completion list that is not a list of lease ids refuses the call, naming the item and field")
    func badCompletionLists() async throws {
        try await h.test { client in
            _ = try await client.call(.post, "/v1/tasks", json: #"{"payload": {"tool_name": "echo"}}"#)
            let lease = try await client.call(.post, "/v1/leases", json: #"{"worker_id": "picky", "max_tasks": 1}"#)
            let id = try #require(lease.body?.items.first?["lease_id"] as? String)
            let good = "{\"lease_id\": \"\(id)\"}"
            let cases: [(String, String)] = [
                (#"{"a": 1}"#, "complete must be an array"),
                (#"[1]"#, "complete[0] must be an object"),
                ("[\(good), {\"lease_id\": 7}]", "complete[1].lease_id must be a string"),
                ("[\(good), {\"lease_id\": \"\"}]", "complete[1].lease_id is required"),
                ("[\(good), {\"lease_id\": null}]", "complete[1].lease_id is required"),
                ("[{\"lease_id\": \"x\", \"res\\u0075lts\": 1}]", "unknown field 'complete[0].results'"),
                ("[{\"lease_id\": \"\\u0078\", \"res\\u0075lt\": 1}, 2]", "complete[1] must be an object"),
                ("[" + Array(repeating: good, count: 1001).joined(separator: ",") + "]", "1-1000"),
            ]
            for (list, detail) in cases {
                for path in ["/v1/leases", "/v1/leases/complete"] {
                    let body = path == "/v1/leases" ? "{\"worker_id\": \"picky\", \"complete\": \(list)}" : "{\"items\": \(list)}"
                    let expected = path == "/v1/leases" ? detail : detail.replacingOccurrences(of: "complete", with: "items")
                    expectProblem(try await client.call(.post, path, json: body), .unprocessableContent, mentioning: expected)
                }
            }
            // Nothing was completed by any of them: the lease still completes once.
            let done = try await client.call(.post, "/v1/leases/complete", json: "{\"items\": [\(good)]}")
            #expect(done.body?.items.map { $0["status"] as? Int } == [200])
        }
    }

    @Test("a lease call carries completions: they are applied first, each answered in order")
    func leaseCarryingCompletions() async throws {
        try await h.test { client in
            _ = try await client.call(.post, "/v1/tasks/batch", json: #"{"items": [{"payload": {"tool_name": "echo"}}, {"payload": {"tool_name": "echo"}}]}"#)
            let first = try await client.call(.post, "/v1/leases", json: #"{"worker_id": "carrier", "max_tasks": 2}"#)
            #expect(first.body?.object["completed"] == nil, "no completions carried, none answered")
            let none = try await client.call(.post, "/v1/leases", json: #"{"worker_id": "carrier", "complete": null, "queues": ["empty"]}"#)
            #expect(none.status == .ok && none.body?.object["completed"] == nil, "null is absent")
            let leaseIDs = (first.body?.items ?? []).compactMap { $0["lease_id"] as? String }
            let taskIDs = (first.body?.items ?? []).compactMap { ($0["task"] as? [String: Any])?["id"] as? String }
            #expect(leaseIDs.count == 2)
            _ = try await client.call(.post, "/v1/tasks", json: #"{"payload": {"tool_name": "echo"}}"#)
            // A bad item refuses the whole call: nothing is completed, nothing leased.
            expectProblem(
                try await client.call(.post, "/v1/leases", json: "{\"worker_id\": \"carrier\", \"complete\": [{\"lease_id\": \"\(leaseIDs[0])\"}, {\"result\": 1}]}"),
                .unprocessableContent, mentioning: "lease_id")
            expectProblem(try await client.call(.post, "/v1/leases", json: #"{"worker_id": "carrier", "complete": []}"#), .unprocessableContent, mentioning: "complete")
            #expect(try await client.call(.get, "/v1/tasks/\(taskIDs[0])").body?.string("status") == "running")
            let second = try await client.call(
                .post, "/v1/leases",
                json: "{\"worker_id\": \"carrier\", \"complete\": [{\"lease_id\": \"\(leaseIDs[0])\", \"result\": {\"n\": 1}}, {\"lease_id\": \"\(leaseIDs[0])\"}, {\"lease_id\": \"\(leaseIDs[1])\"}]}")
            #expect(second.status == .ok)
            let completed = second.body?.object["completed"] as? [[String: Any]] ?? []
            #expect(completed.map { $0["status"] as? Int } == [200, 409, 200], "the repeat of a lease finds it completed")
            #expect(completed.map { $0["lease_id"] as? String } == [leaseIDs[0], leaseIDs[0], leaseIDs[1]])
            #expect(completed.allSatisfy { $0["task"] == nil }, "statuses only")
            #expect(second.body?.items.count == 1, "and the queued task was leased")
            let done = try await client.call(.get, "/v1/tasks/\(taskIDs[0])").body
            #expect(done?.string("status") == "completed")
            #expect(done?.object["result"] as? [String: Int] == ["n": 1])
            // Carried completions with nothing left to lease.
            let third = try await client.call(
                .post, "/v1/leases", json: "{\"worker_id\": \"carrier\", \"complete\": [{\"lease_id\": \"\((second.body?.items.first?["lease_id"] as? String) ?? "")\"}]}")
            #expect((third.body?.object["completed"] as? [[String: Any]])?.map { $0["status"] as? Int } == [200])
            #expect(third.body?.items.isEmpty == true)
        }
    }

    @Test("bad lease requests are refused with a problem and lease nothing")
    func badRequests() async throws {
        try await h.test { client in
            _ = try await client.call(.post, "/v1/tasks", json: #"{"payload": {"tool_name": "echo"}}"#)
            expectProblem(try await client.call(.post, "/v1/leases", json: "{}"), .unprocessableContent, mentioning: "worker_id")
            expectProblem(try await client.call(.post, "/v1/leases", json: #"{"worker_id": "w", "max_tasks": 0}"#), .unprocessableContent, mentioning: "max_tasks")
            expectProblem(try await client.call(.post, "/v1/leases", json: #"{"worker_id": "w", "queues": [1]}"#), .unprocessableContent, mentioning: "queues")
            expectProblem(try await client.call(.post, "/v1/leases", json: #"{"worker_id": "w", "wait_ms": 999999}"#), .unprocessableContent, mentioning: "wait_ms")
            expectProblem(try await client.call(.post, "/v1/leases", json: #"{"worker_id": "w", "lease_ms": 1}"#), .unprocessableContent, mentioning: "lease_ms")
            expectProblem(try await client.call(.post, "/v1/leases", json: #"{"worker_id": "w", "speed": 1}"#), .unprocessableContent, mentioning: "speed")
            expectProblem(try await client.call(.post, "/v1/leases", json: "[]"), .badRequest)
            expectProblem(try await client.call(.post, "/v1/leases/x/fail", json: "{}"), .unprocessableContent, mentioning: "error")
            #expect(try await client.call(.get, "/v1/tasks").body?.items.first?["status"] as? String == "pending")
        }
    }

    @Test("a long-poll lease returns when a task is enqueued (through the server's own HTTP stack)")
    func longPoll() async throws {
        try await h.testHTTP { client in
            async let leased = client.call(.post, "/v1/leases", json: #"{"worker_id": "poller", "wait_ms": 30000}"#)
            while h.engine.workers.list(now: h.clock.now()).isEmpty { await Task.yield() }
            try await Task.sleep(for: .milliseconds(20))
            // The live client has one connection, busy with the long-poll: the enqueue goes by another.
            let port = try #require(client.port)
            let body = #"{"payload": {"tool_name": "echo"}}"#
            let created = try await rawExchange(
                port: port, "POST /v1/tasks HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            #expect(created.hasPrefix("HTTP/1.1 201"))
            #expect(try await leased.body?.items.count == 1, "woken by the enqueue, long before the 30 s wait on a manual clock")
        }
    }
}
