import Foundation
import SwitchboardConformance
import SwitchboardCore
import SwitchboardRESP
import SwitchboardRedis
import Testing

/// What the conformance suite cannot see: two backend instances (two servers) on one store.
@Suite("Redis backend across instances", .enabled(if: testRedisURL != nil), .timeLimit(.minutes(1)))
struct RedisBackendTests {
    let prefix = "sbtest-\(UUID().uuidString.prefix(8))"

    @Test("a completion returns the task exactly as stored, whether this instance leased it or another did")
    func completionRecord() async throws {
        let (a, b) = (makeRedisBackend(prefix: prefix), makeRedisBackend(prefix: prefix))
        let q = Fixture.queue()
        let result = RawJSON(unchecked: Array(#"{"ok":true}"#.utf8))
        _ = try await a.enqueue([Fixture.task(queue: q), Fixture.task(queue: q)], now: Fixture.t0)
        let leases = try await a.lease(queues: [q], maxTasks: 2, workerID: "w", terms: Fixture.terms, now: Fixture.at(1))
        try #require(leases.count == 2)
        _ = try await a.heartbeat(leaseID: leases[0].leaseID, extension: Fixture.terms, now: Fixture.at(2))
        // Completed by the instance that leased it (its own copy of the task)…
        let here = try await a.complete(leaseID: leases[0].leaseID, result: result, now: Fixture.at(3))
        #expect(here == (try await a.task(id: here.id)))
        // …and by another (which reads the task back from Redis).
        let there = try await b.complete(leaseID: leases[1].leaseID, result: nil, now: Fixture.at(4))
        #expect(there == (try await b.task(id: there.id)))
        #expect(here.status == .completed && there.status == .completed)
        await #expect(throws: SwitchboardError.self) {
            try await a.complete(leaseID: leases[1].leaseID, result: nil, now: Fixture.at(5))
        }
    }
}
