import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SwitchboardCore
import SwitchboardJSON
import SwitchboardServer
import SwitchboardTesting
import Testing

@Suite("DLQ, queue, lock and system endpoints", .timeLimit(.minutes(1)))
struct OperatorEndpointTests {
    let h = ServerHarness()

    /// Enqueues a task and fails it into the dead-letter queue through the engine.
    func bury(queue: String = "default", type: String = "job") async throws -> String {
        let task = try await h.engine.enqueue(TaskSubmission(queue: queue, type: type, payload: .null)).task
        let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w", queues: [queue])).first)
        _ = try await h.engine.fail(leaseID: lease.leaseID, failure: TaskFailureReport(message: "broken", retryable: false))
        return task.id
    }

    @Test("the DLQ lists, requeues, deletes and purges, with filters")
    func deadLetters() async throws {
        let a = try await bury(queue: "a", type: "x")
        let b = try await bury(queue: "a", type: "y")
        let c = try await bury(queue: "b", type: "x")
        let d = try await bury(queue: "b", type: "y")
        try await h.test { client in
            let all = try await client.call(.get, "/v1/dlq")
            #expect(all.body?.items.compactMap { $0["id"] as? String } == [a, b, c, d])
            #expect(try await client.call(.get, "/v1/dlq?queue=a&type=y").body?.items.compactMap { $0["id"] as? String } == [b])
            let page = try await client.call(.get, "/v1/dlq?limit=3")
            #expect(page.body?.items.count == 3 && page.body?.string("next_cursor") != nil)

            let requeued = try await client.call(.post, "/v1/dlq/\(a)/requeue")
            #expect(requeued.status == .ok)
            #expect(requeued.body?.string("status") == "pending" && requeued.body?.int("attempts") == 0)
            expectProblem(try await client.call(.post, "/v1/dlq/\(a)/requeue"), .notFound, mentioning: "dead-letter")

            let many = try await client.call(.post, "/v1/dlq/requeue?type=y")
            #expect(many.body?.int("requeued") == 2)

            let deleted = try await client.call(.delete, "/v1/dlq/\(c)")
            #expect(deleted.status == .noContent)
            expectProblem(try await client.call(.get, "/v1/tasks/\(c)"), .notFound)
            expectProblem(try await client.call(.delete, "/v1/dlq/\(c)"), .notFound)

            _ = try await bury(queue: "b")
            _ = try await bury(queue: "c")
            let purged = try await client.call(.delete, "/v1/dlq?queue=b")
            #expect(purged.body?.int("deleted") == 1)
            #expect(try await client.call(.delete, "/v1/dlq").body?.int("deleted") == 1)
            #expect(try await client.call(.get, "/v1/dlq").body?.items.isEmpty == true)
            expectProblem(try await client.call(.delete, "/v1/dlq?type=BAD"), .unprocessableContent, mentioning: "type")
        }
    }

    @Test("dead tasks requeued and deleted by ids (a selection on the page); refusals change nothing")
    func deadLettersByID() async throws {
        let ids = try await (0..<4).asyncMap { _ in try await bury(queue: "sel") }
        let alive = try await h.engine.enqueue(TaskSubmission(queue: "sel", type: "job", payload: .null)).task.id
        try await h.test { client in
            func dead() async throws -> [String] {
                try await client.call(.get, "/v1/dlq?queue=sel").body?.items.compactMap { $0["id"] as? String } ?? []
            }
            for bad in [
                #"{"ids": []}"#, #"{"ids": ["a", "a"]}"#, #"{"ids": ["not an id"]}"#, #"{"ids": "x"}"#, #"{"ids": ["a"], "also": 1}"#,
                "{\"ids\": [\((0...1000).map { "\"t\($0)\"" }.joined(separator: ","))]}",
            ] {
                let answer = try await client.call(.post, "/v1/dlq/requeue", json: bad)
                #expect(answer.status == .unprocessableContent || answer.status == .badRequest, "\(bad.prefix(40))")
                #expect(try await client.call(.post, "/v1/dlq/delete", json: bad).status.code >= 400)
            }
            expectProblem(try await client.call(.post, "/v1/dlq/delete", json: "{}"), .unprocessableContent, mentioning: "ids")
            #expect(try await dead() == ids, "nothing changed by the refusals")

            let requeued = try await client.call(.post, "/v1/dlq/requeue", json: #"{"ids": ["\#(ids[0])", "\#(ids[1])", "\#(alive)", "unknown"]}"#)
            #expect(requeued.status == .ok)
            #expect(requeued.body?.int("requeued") == 2)
            #expect((requeued.body?["missing"] as? [String]) == [alive, "unknown"])
            #expect(try await dead() == [ids[2], ids[3]])
            #expect(try await h.engine.task(id: ids[0]).status == .pending)

            let narrowed = try await client.call(.post, "/v1/dlq/requeue?queue=other", json: #"{"ids": ["\#(ids[3])"]}"#)
            #expect(narrowed.body?.int("requeued") == 0 && (narrowed.body?["missing"] as? [String]) == [ids[3]], "ids narrowed by the filter")
            let deleted = try await client.call(.post, "/v1/dlq/delete", json: #"{"ids": ["\#(ids[2])", "\#(ids[0])"]}"#)
            #expect(deleted.body?.int("deleted") == 1 && (deleted.body?["missing"] as? [String]) == [ids[0]])
            #expect(try await dead() == [ids[3]])
            expectProblem(try await client.call(.get, "/v1/tasks/\(ids[2])"), .notFound)
        }
    }

    @Test("queues show depth per state; pause holds leasing, resume restores order")
    func queues() async throws {
        try await h.test { client in
            let paused = try await client.call(.post, "/v1/queues/work/pause")
            #expect(paused.status == .ok && paused.body?["paused"] as? Bool == true)
            var ids: [String] = []
            for _ in 0..<3 {
                ids.append(try #require(try await client.call(.post, "/v1/tasks", json: #"{"queue": "work", "type": "job", "payload": 1}"#).body?.string("id")))
            }
            #expect(try await h.engine.lease(LeaseRequest(workerID: "w", queues: ["work"], maxTasks: 3)).isEmpty)
            let listed = try await client.call(.get, "/v1/queues")
            let work = try #require(listed.body?.items.first { $0["name"] as? String == "work" })
            #expect(work["paused"] as? Bool == true)
            #expect((work["depth"] as? [String: Int]) == ["scheduled": 0, "pending": 3, "running": 0, "retrying": 0, "completed": 0, "dead": 0, "cancelled": 0])
            let resumed = try await client.call(.post, "/v1/queues/work/resume")
            #expect(resumed.body?["paused"] as? Bool == false)
            let leased = try await h.engine.lease(LeaseRequest(workerID: "w", queues: ["work"], maxTasks: 3))
            #expect(leased.map(\.task.id) == ids)
            expectProblem(try await client.call(.post, "/v1/queues/bad%20name/pause"), .unprocessableContent, mentioning: "queue")
            #expect(try await client.call(.post, "/v1/queues/a%3Ab/pause").status == .ok, "percent-encoded names are decoded")
        }
    }

    @Test("locks: acquire, conflict, renew, release, get, list")
    func locks() async throws {
        try await h.test { client in
            let acquired = try await client.call(.post, "/v1/locks/repo-1/acquire", json: #"{"holder": "agent-a", "ttl_ms": 30000}"#)
            #expect(acquired.status == .ok)
            #expect(acquired.body?.string("key") == "repo-1" && acquired.body?.string("holder") == "agent-a")
            let token = try #require(acquired.body?.int("token"))
            #expect(acquired.body?.string("expires_at") == (h.clock.now() + .seconds(30)).rfc3339)
            expectProblem(
                try await client.call(.post, "/v1/locks/repo-1/acquire", json: #"{"holder": "agent-b", "ttl_ms": 1000}"#),
                .conflict, mentioning: "held")
            let renewed = try await client.call(.post, "/v1/locks/repo-1/renew", json: #"{"holder": "agent-a", "token": \#(token), "ttl_ms": 60000}"#)
            #expect(renewed.status == .ok && renewed.body?.int("token") == token)
            expectProblem(
                try await client.call(.post, "/v1/locks/repo-1/renew", json: #"{"holder": "agent-b", "token": \#(token), "ttl_ms": 60000}"#),
                .conflict)
            #expect(try await client.call(.get, "/v1/locks/repo-1").body?.string("holder") == "agent-a")
            #expect(try await client.call(.get, "/v1/locks").body?.items.count == 1)
            expectProblem(
                try await client.call(.post, "/v1/locks/repo-1/release", json: #"{"holder": "agent-a", "token": \#(token + 1)}"#),
                .conflict)
            let released = try await client.call(.post, "/v1/locks/repo-1/release", json: #"{"holder": "agent-a", "token": \#(token)}"#)
            #expect(released.status == .noContent)
            expectProblem(try await client.call(.get, "/v1/locks/repo-1"), .notFound)
            let next = try await client.call(.post, "/v1/locks/repo-1/acquire", json: #"{"holder": "agent-b", "ttl_ms": 1000}"#)
            #expect(try #require(next.body?.int("token")) > token, "tokens strictly increase")
        }
    }

    @Test("lock requests are validated")
    func lockValidation() async throws {
        try await h.test { client in
            expectProblem(try await client.call(.post, "/v1/locks/k/acquire", json: #"{"ttl_ms": 1000}"#), .unprocessableContent, mentioning: "holder")
            expectProblem(try await client.call(.post, "/v1/locks/k/acquire", json: #"{"holder": "h"}"#), .unprocessableContent, mentioning: "ttl_ms")
            expectProblem(try await client.call(.post, "/v1/locks/k/acquire", json: #"{"holder": "h", "ttl_ms": 0}"#), .unprocessableContent, mentioning: "ttl_ms")
            expectProblem(try await client.call(.post, "/v1/locks/k/acquire", json: #"{"holder": "h", "ttl_ms": 5, "wait_ms": 999999}"#), .unprocessableContent, mentioning: "wait_ms")
            expectProblem(try await client.call(.post, "/v1/locks/k/acquire", json: #"{"holder": "h", "ttl_ms": 5, "wait_ms": -25}"#), .unprocessableContent, mentioning: "wait_ms")
            expectProblem(try await client.call(.post, "/v1/locks/k/acquire", json: #"{"holder": "h", "ttl_ms": 5, "x": 1}"#), .unprocessableContent, mentioning: "x")
            expectProblem(try await client.call(.post, "/v1/locks/k/release", json: #"{"holder": "h", "token": 0}"#), .unprocessableContent, mentioning: "token")
            expectProblem(try await client.call(.post, "/v1/locks/k/release", json: #"nope"#), .badRequest)
        }
    }

    @Test("a waiting acquire is woken by the release (through the server's own HTTP stack)")
    func lockWaitWokenByRelease() async throws {
        try await h.testHTTP { client in
            let held = try await client.call(.post, "/v1/locks/db/acquire", json: #"{"holder": "a", "ttl_ms": 60000}"#)
            let token = try #require(held.body?.int("token"))
            async let waiting = client.call(.post, "/v1/locks/db/acquire", json: #"{"holder": "b", "ttl_ms": 5000, "wait_ms": 30000}"#)
            await h.clock.waitForSleepers()
            // The live client has one connection, busy with the waiting acquire: the release goes by another.
            let port = try #require(client.port)
            let body = #"{"holder": "a", "token": \#(token)}"#
            let released = try await rawExchange(
                port: port,
                "POST /v1/locks/db/release HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            #expect(released.hasPrefix("HTTP/1.1 204"))
            let granted = try await waiting
            #expect(granted.status == .ok)
            #expect(granted.body?.string("holder") == "b")
            #expect(try #require(granted.body?.int("token")) > token)
        }
    }

    @Test("health, readiness, metrics and the contract")
    func system() async throws {
        try await h.test { client in
            #expect(try await client.call(.get, "/healthz").body?.string("status") == "ok")
            let ready = try await client.call(.get, "/readyz")
            #expect(ready.body?.string("status") == "ready")
            // The memory backend says that a restart loses its tasks.
            let durability = try #require(ready.body?["durability"] as? [String: Any])
            #expect(durability["survives_restart"] as? Bool == false)
            #expect((durability["warnings"] as? [String])?.first?.contains("restart loses") == true)
            try await client.call(.post, "/v1/tasks", json: echoTask)
            _ = try await h.engine.performMaintenance()
            let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            for family in [
                "switchboard_tasks_enqueued_total", "switchboard_queue_depth", "switchboard_http_requests_total",
                "switchboard_http_request_duration_seconds",
            ] {
                #expect(metrics.contains("# HELP \(family) "), "\(family) has help text")
                #expect(metrics.contains("# TYPE \(family) "), "\(family) is exposed")
            }
            #expect(metrics.contains(#"switchboard_tasks_enqueued_total{queue="default",type="tool_call"} 1"#))
            #expect(metrics.contains(#"switchboard_http_requests_total{route="/v1/tasks",method="POST",status="201"} 1"#))
            let contract = try await client.execute(uri: "/openapi.yaml", method: .get) { ($0.status, String(buffer: $0.body)) }
            #expect(contract.0 == .ok && contract.1.hasPrefix("openapi: 3.1"))
            let page = try await client.execute(uri: "/", method: .get) { ($0.status, String(buffer: $0.body)) }
            #expect(page.0 == .ok && page.1.contains("<title>Switchboard</title>"))
        }
    }

    @Test("a backend without the optional abilities answers 501 for them, and the DLQ still lists")
    func optionalAbilities() async throws {
        let h = ServerHarness(backend: EssentialsOnlyBackend())
        let task = try await h.engine.enqueue(TaskSubmission(type: "job", payload: .null)).task
        let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w", queues: ["default"])).first)
        _ = try await h.engine.fail(leaseID: lease.leaseID, failure: TaskFailureReport(message: "broken", retryable: false))
        try await h.test { client in
            #expect(try await client.call(.get, "/v1/dlq").body?.items.compactMap { $0["id"] as? String } == [task.id])
            expectProblem(try await client.call(.post, "/v1/dlq/\(task.id)/requeue"), .notImplemented, mentioning: "dead letters")
            expectProblem(try await client.call(.post, "/v1/dlq/requeue"), .notImplemented, mentioning: "dead letters")
            expectProblem(try await client.call(.delete, "/v1/dlq/\(task.id)"), .notImplemented, mentioning: "dead letters")
            expectProblem(try await client.call(.delete, "/v1/dlq"), .notImplemented, mentioning: "dead letters")
            expectProblem(try await client.call(.post, "/v1/queues/default/pause"), .notImplemented, mentioning: "pause")
            expectProblem(try await client.call(.post, "/v1/queues/default/resume"), .notImplemented, mentioning: "pause")
        }
        #expect(try await h.engine.task(id: task.id).status == .dead, "nothing changed")
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var values: [T] = []
        for element in self { values.append(try await transform(element)) }
        return values
    }
}
