import Foundation
import SwitchboardCore
import SwitchboardJSON
import SwitchboardRedis
import SwitchboardRESP
import SwitchboardTesting
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
        for lease in leases { #expect(lease.task == (try await a.task(id: lease.task.id)), "the leased task is the stored one") }
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

    @Test("a second lease shows the task as stored: attempts, errors and times")
    func releasedAndRetried() async throws {
        let a = makeRedisBackend(prefix: prefix)
        let q = Fixture.queue()
        _ = try await a.enqueue([Fixture.task(queue: q, lockKey: Fixture.uniqueID("k"))], now: Fixture.t0)
        let first = try #require(try await a.lease(queues: [q], maxTasks: 1, workerID: "w1", terms: Fixture.terms, now: Fixture.at(1)).first)
        _ = try await a.fail(leaseID: first.leaseID, message: "boom", now: Fixture.at(2)) { _ in .retry(at: Fixture.at(3)) }
        let second = try #require(try await a.lease(queues: [q], maxTasks: 1, workerID: "w2", terms: Fixture.terms, now: Fixture.at(3)).first)
        #expect(second.task.attempts == 2 && second.task.errors.count == 1)
        #expect(second.task == (try await a.task(id: second.task.id)))
        let released = try await a.release(leaseID: second.leaseID, now: Fixture.at(4))
        #expect(released == (try await a.task(id: second.task.id)))
        #expect(released.leaseExpiresAt == nil && released.attempts == 1)
        let third = try #require(try await a.lease(queues: [q], maxTasks: 1, workerID: "w3", terms: Fixture.terms, now: Fixture.at(5)).first)
        #expect(third.task == (try await a.task(id: third.task.id)))
        #expect(third.readySince == Fixture.at(4), "ready again since the release")
    }

    @Test("the durability report reads Redis's persistence and eviction settings and warns about the unsafe ones")
    func durability() async throws {
        let backend = makeRedisBackend(prefix: prefix)
        let report = try await backend.durabilityReport()
        // The test script's redis-server runs without the append-only file.
        #expect(report.settings["appendonly"] == "no")
        #expect(!report.survivesRestart)
        #expect(report.warnings.contains { $0.contains("appendonly") })
        #expect(report.settings["maxmemory-policy"] == "noeviction")
        #expect(!report.warnings.contains { $0.contains("maxmemory-policy") })
        // Without maxmemory nothing is evicted either way, so the other tests sharing this
        // redis-server are not disturbed by the policy's brief change.
        let admin = RedisClient(RedisClient.Configuration(url: try #require(testRedisURL)))
        _ = try await admin.send(RESPCommand("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"))
        let evicting = try await backend.durabilityReport()
        _ = try await admin.send(RESPCommand("CONFIG", "SET", "maxmemory-policy", "noeviction"))
        await admin.close()
        #expect(evicting.warnings.contains { $0.contains("maxmemory-policy is allkeys-lru") })
    }
}
