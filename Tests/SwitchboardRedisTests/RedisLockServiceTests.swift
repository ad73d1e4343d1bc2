import Foundation
import Synchronization
import SwitchboardCore
import SwitchboardRESP
@testable import SwitchboardRedis
import SwitchboardTesting
import Testing

let testRedisURL: RedisURL? = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_REDIS_URL"].flatMap { try? RedisURL($0) }

@Suite("Redis locks", .enabled(if: testRedisURL != nil), .timeLimit(.minutes(1)))
struct RedisLockServiceTests {
    let locks: RedisLockService

    init() {
        var url = testRedisURL!
        url.database = 11
        locks = RedisLockService(client: RedisClient(RedisClient.Configuration(url: url)))
    }

    func uniqueKey() -> String { "test-\(UUID().uuidString)" }

    @Test("the lock contract", arguments: LockConformance.checks)
    func conformance(_ check: LockConformanceCheck) async throws {
        try await check.run(on: locks)
    }
}

@Suite("Redis lock helpers")
struct RedisLockHelperTests {
    @Test("BLPOP timeouts are seconds with milliseconds, never zero")
    func blpopSeconds() {
        #expect(RedisLockService.seconds(.milliseconds(1250)) == "1.250")
        #expect(RedisLockService.seconds(.milliseconds(5)) == "0.005")
        #expect(RedisLockService.seconds(.zero) == "0.001")
        #expect(RedisLockService.seconds(.seconds(30)) == "30.000")
    }
}
