import Foundation
import SwitchboardTesting
import SwitchboardCore
import SwitchboardRESP
import SwitchboardRedis
import Testing

/// A backend on the test Redis (database 12) under a prefix of its own, so tests never see
/// each other's keys.
func makeRedisBackend(prefix: String = "sbtest-\(UUID().uuidString.prefix(8))") -> RedisTaskBackend {
    var url = testRedisURL!
    url.database = 12
    return RedisTaskBackend(client: RedisClient(RedisClient.Configuration(url: url)), prefix: prefix)
}

@Suite("Redis backend conformance", .enabled(if: testRedisURL != nil), .timeLimit(.minutes(2)))
struct RedisBackendConformanceTests {
    @Test(arguments: BackendConformance.checks)
    func check(_ check: BackendConformanceCheck) async throws {
        let backend = makeRedisBackend()
        defer { Task { await backend.client.close() } }
        try await check.run(on: backend)
    }

    @Test("all checks also pass against one shared store")
    func sharedStore() async throws {
        let backend = makeRedisBackend()
        for check in BackendConformance.checks {
            try await check.run(on: backend)
        }
        await backend.client.close()
    }
}
