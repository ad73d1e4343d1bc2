import Foundation
import Synchronization
import SwitchboardCore
import SwitchboardRESP
@testable import SwitchboardRedis
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

    @Test("acquire, conflict, renew, release; tokens strictly increase per key")
    func basics() async throws {
        let key = uniqueKey()
        let a = try #require(try await locks.acquire(key: key, holder: "a", ttl: .seconds(10), wait: .zero))
        #expect(try await locks.acquire(key: key, holder: "b", ttl: .seconds(10), wait: .zero) == nil)
        let renewed = try await locks.renew(key: key, holder: "a", token: a.token, ttl: .seconds(20))
        #expect(renewed.token == a.token)
        await #expect(throws: SwitchboardError.self) { try await locks.renew(key: key, holder: "b", token: a.token, ttl: .seconds(1)) }
        await #expect(throws: SwitchboardError.self) { try await locks.release(key: key, holder: "a", token: a.token + 1) }
        let seen = try #require(try await locks.lease(key: key))
        #expect(seen.holder == "a" && seen.token == a.token)
        #expect(try await locks.leases().contains { $0.key == key && $0.holder == "a" })
        try await locks.release(key: key, holder: "a", token: a.token)
        #expect(try await locks.lease(key: key) == nil)
        await #expect(throws: SwitchboardError.self) { try await locks.release(key: key, holder: "a", token: a.token) }
        let b = try #require(try await locks.acquire(key: key, holder: "b", ttl: .seconds(1), wait: .zero))
        #expect(b.token > a.token)
        try await locks.release(key: key, holder: "b", token: b.token)
    }

    @Test("a waiting acquire ends at once when its task is cancelled (a server shutting down)")
    func cancelledWait() async throws {
        let key = uniqueKey()
        let held = try #require(try await locks.acquire(key: key, holder: "a", ttl: .seconds(30), wait: .zero))
        let started = ContinuousClock.now
        let waiter = Task { try await locks.acquire(key: key, holder: "b", ttl: .seconds(1), wait: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(100))
        waiter.cancel()
        #expect(try await waiter.value == nil)
        #expect(ContinuousClock.now - started < .seconds(10), "not after the 30 s wait")
        try await locks.release(key: key, holder: "a", token: held.token)
    }

    @Test("bad arguments are refused before Redis is asked")
    func validation() async {
        await #expect(throws: SwitchboardError.self) { try await locks.acquire(key: "", holder: "h", ttl: .seconds(1), wait: .zero) }
        await #expect(throws: SwitchboardError.self) { try await locks.acquire(key: "k", holder: "h", ttl: .zero, wait: .zero) }
    }

    @Test("an expired holder is fenced out by its successor's token")
    func expiry() async throws {
        let key = uniqueKey()
        let fence = FencingGuard()
        let old = try #require(try await locks.acquire(key: key, holder: "old", ttl: .milliseconds(100), wait: .zero))
        #expect(fence.admit(key: key, token: old.token))
        // The successor waits for the expiry instead of polling.
        let new = try #require(try await locks.acquire(key: key, holder: "new", ttl: .seconds(10), wait: .seconds(5)))
        #expect(new.token > old.token)
        #expect(fence.admit(key: key, token: new.token))
        #expect(!fence.admit(key: key, token: old.token), "the late write is refused")
        await #expect(throws: SwitchboardError.self) { try await locks.renew(key: key, holder: "old", token: old.token, ttl: .seconds(1)) }
        try await locks.release(key: key, holder: "new", token: new.token)
    }

    @Test("a release wakes a waiter at once, long before the holder's TTL")
    func wakeOnRelease() async throws {
        let key = uniqueKey()
        let held = try #require(try await locks.acquire(key: key, holder: "a", ttl: .seconds(30), wait: .zero))
        let started = ContinuousClock.now
        async let waiter = locks.acquire(key: key, holder: "b", ttl: .seconds(5), wait: .seconds(20))
        try await Task.sleep(for: .milliseconds(100))
        try await locks.release(key: key, holder: "a", token: held.token)
        let granted = try #require(try await waiter)
        #expect(granted.holder == "b" && granted.token > held.token)
        #expect(ContinuousClock.now - started < .seconds(10), "woken by the release, not by the 30 s TTL")
        try await locks.release(key: key, holder: "b", token: granted.token)
    }

    @Test("a waiter gives up after its wait")
    func waitTimesOut() async throws {
        let key = uniqueKey()
        let held = try #require(try await locks.acquire(key: key, holder: "a", ttl: .seconds(30), wait: .zero))
        #expect(try await locks.acquire(key: key, holder: "b", ttl: .seconds(1), wait: .milliseconds(150)) == nil)
        try await locks.release(key: key, holder: "a", token: held.token)
    }

    @Test("many contenders never overlap, and every grant passes the fence in order")
    func contention() async throws {
        let key = uniqueKey()
        let fence = FencingGuard()
        let inside = Counter()
        let overlaps = Counter()
        let grants = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for contender in 0..<8 {
                group.addTask { [locks] in
                    for _ in 0..<10 {
                        let lease = try #require(
                            try await locks.acquire(key: key, holder: "c\(contender)", ttl: .seconds(10), wait: .seconds(30)))
                        if inside.add(1) > 1 { overlaps.add(1) }
                        #expect(fence.admit(key: key, token: lease.token))
                        grants.add(1)
                        inside.add(-1)
                        try await locks.release(key: key, holder: "c\(contender)", token: lease.token)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(overlaps.value == 0)
        #expect(grants.value == 80)
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)

    @discardableResult
    func add(_ n: Int) -> Int { count.withLock { $0 += n; return $0 } }

    var value: Int { count.withLock { $0 } }
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
