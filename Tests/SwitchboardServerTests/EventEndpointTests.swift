import Foundation
import HTTPTypes
import HummingbirdTesting
import SwitchboardCore
import SwitchboardJSON
import SwitchboardServer
import Testing

@Suite("Events endpoint")
struct EventEndpointTests {
    let h = ServerHarness()

    @Test("the JSON form resumes after an id with task, queue and lock events in order")
    func resume() async throws {
        try await h.test { client in
            let start = try await client.call(.get, "/v1/events")
            #expect(start.status == .ok)
            #expect(start.body?["reset"] as? Bool == false && start.body?.items.isEmpty == true)
            let mark = try #require(start.body?.string("last_event_id"))

            let id = try #require(try await client.call(.post, "/v1/tasks", json: #"{"queue": "q", "payload": {"tool_name": "echo"}}"#).body?.string("id"))
            try await client.call(.post, "/v1/queues/q/pause")
            try await client.call(.post, "/v1/locks/k/acquire", json: #"{"holder": "h", "ttl_ms": 5000}"#)
            let events = try await client.call(.get, "/v1/events?after=\(mark)")
            let items = try #require(events.body?.items)
            #expect(items.compactMap { $0["type"] as? String } == ["task.created", "queue.paused", "lock.acquired"])
            let task = try #require(items[0]["task"] as? [String: Any])
            #expect(task["id"] as? String == id && task["status"] as? String == "pending" && task["queue"] as? String == "q")
            #expect((items[2]["lock"] as? [String: Any])?["key"] as? String == "k")
            let last = try #require(events.body?.string("last_event_id"))
            #expect(last == items[2]["id"] as? String)
            #expect(try await client.call(.get, "/v1/events?after=\(last)").body?.items.isEmpty == true)
            #expect(try await client.call(.get, "/v1/events?after=\(mark)&limit=1").body?.items.count == 1)

            // An id of another run of the server (a restart): reset, reload.
            let other = try await client.call(.get, "/v1/events", headers: [HTTPField.Name("Last-Event-ID")!: "zz-3"])
            #expect(other.body?["reset"] as? Bool == true)
        }
    }

    @Test("a long-poll is woken by the next event")
    func longPoll() async throws {
        try await h.test { client in
            let mark = try #require(try await client.call(.get, "/v1/events").body?.string("last_event_id"))
            async let polled = client.call(.get, "/v1/events?after=\(mark)&wait_ms=30000")
            while h.engine.events.waiterCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
            try await client.call(.post, "/v1/queues/woken/pause")
            let answer = try await polled
            #expect(answer.body?.items.compactMap { $0["type"] as? String } == ["queue.paused"])
        }
    }

    @Test("bad ids and ranges are refused")
    func refusals() async throws {
        try await h.test { client in
            for query in ["after=12", "after=-3", "after=e-x", "after=", "limit=0", "limit=1001", "wait_ms=-1", "wait_ms=30001"] {
                expectProblem(try await client.call(.get, "/v1/events?\(query)"), .unprocessableContent)
            }
            expectProblem(try await client.call(.post, "/v1/events"), .methodNotAllowed)
            expectProblem(try await client.call(.get, "/v1/events", headers: [HTTPField.Name("Last-Event-ID")!: ""]), .unprocessableContent)
            // A bad `after` is refused even beside a good Last-Event-ID (which would win), and an
            // epoch outside the contract's letters is refused, not taken for another run's.
            expectProblem(
                try await client.call(.get, "/v1/events?after=%C2%82", headers: [HTTPField.Name("Last-Event-ID")!: "zz-3"]),
                .unprocessableContent)
            expectProblem(try await client.call(.get, "/v1/events?after=A%20B-3"), .unprocessableContent)
            expectProblem(try await client.call(.get, "/v1/events?after=ab-%2B3"), .unprocessableContent)
        }
    }

    @Test("a token limited to queues sees events of those queues only, and no lock events")
    func queueLimited() async throws {
        let h = ServerHarness(security: try TestTokens.security())
        try await h.test { client in
            let token = bearer(TestTokens.billingProducer)
            expectProblem(try await client.call(.get, "/v1/events"), .unauthorized)
            expectProblem(try await client.call(.get, "/v1/events", headers: bearer(TestTokens.worker)), .forbidden)
            let mark = try #require(try await client.call(.get, "/v1/events", headers: token).body?.string("last_event_id"))
            _ = try await h.engine.enqueue(TaskSubmission(queue: "default", type: "job", payload: .null))
            _ = try await h.engine.enqueue(TaskSubmission(queue: "billing", type: "job", payload: .null))
            _ = try await h.server.locks.acquire(key: "k", holder: "h", ttl: .seconds(5), wait: .zero)
            let seen = try await client.call(.get, "/v1/events?after=\(mark)", headers: token).body?.items ?? []
            #expect(seen.compactMap { $0["queue"] as? String } == ["billing"])
            let all = try await client.call(.get, "/v1/events?after=\(mark)", headers: bearer(TestTokens.viewer)).body?.items ?? []
            #expect(all.compactMap { $0["type"] as? String } == ["task.created", "task.created", "lock.acquired"])
        }
    }
}
