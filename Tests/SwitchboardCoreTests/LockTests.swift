import Synchronization
@testable import SwitchboardCore
import SwitchboardTesting
import Testing

@Suite("Memory locks", .timeLimit(.minutes(1)))
struct LockTests {
    @Test("the lock contract, on real time", arguments: LockConformance.checks)
    func conformance(_ check: LockConformanceCheck) async throws {
        try await check.run(on: MemoryLockService())
    }

    let clock = ManualClock()
    var locks: MemoryLockService { MemoryLockService(clock: clock) }

    @Test("acquire, renew, release; tokens strictly increase per key")
    func basics() async throws {
        let locks = self.locks
        let a = try #require(try await locks.acquire(key: "db", holder: "a", ttl: .seconds(10), wait: .zero))
        #expect(a.expiresAt == clock.now() + .seconds(10))
        #expect(try await locks.acquire(key: "db", holder: "b", ttl: .seconds(10), wait: .zero) == nil, "held")
        #expect(try await locks.acquire(key: "db", holder: "a", ttl: .seconds(10), wait: .zero) == nil, "not reentrant")
        clock.advance(by: .seconds(5))
        let renewed = try await locks.renew(key: "db", holder: "a", token: a.token, ttl: .seconds(10))
        #expect(renewed.token == a.token && renewed.expiresAt == clock.now() + .seconds(10))
        await expectError(.conflict) { try await locks.renew(key: "db", holder: "a", token: a.token + 1, ttl: .seconds(1)) }
        await expectError(.conflict) { try await locks.release(key: "db", holder: "b", token: a.token) }
        #expect(try await locks.lease(key: "db") == renewed)
        #expect(try await locks.leases() == [renewed])
        try await locks.release(key: "db", holder: "a", token: a.token)
        await expectError(.conflict, mentioning: "not held") { try await locks.release(key: "db", holder: "a", token: a.token) }
        #expect(try await locks.lease(key: "db") == nil)
        var last = a.token
        for holder in ["b", "c", "d"] {
            let next = try #require(try await locks.acquire(key: "db", holder: holder, ttl: .seconds(1), wait: .zero))
            #expect(next.token > last)
            last = next.token
            try await locks.release(key: "db", holder: holder, token: next.token)
        }
    }

    @Test("bad arguments are refused", arguments: [
        ("", "h", 1000, 0), ("k", "", 1000, 0), ("k", "h", 0, 0), ("k", "h", 1000, -1), ("k", "h", 1000, 301_000),
        (String(repeating: "k", count: 257), "h", 1000, 0), ("k\n", "h", 1000, 0),
    ])
    func validation(_ key: String, _ holder: String, _ ttl: Int64, _ wait: Int64) async {
        let locks = self.locks
        await expectError(.invalid) {
            try await locks.acquire(key: key, holder: holder, ttl: .milliseconds(ttl), wait: .milliseconds(wait))
        }
    }

    @Test("an expired lease lets the next holder in and fences the old one out")
    func expiry() async throws {
        let locks = self.locks
        let fence = FencingGuard()
        let old = try #require(try await locks.acquire(key: "k", holder: "old", ttl: .seconds(1), wait: .zero))
        #expect(fence.admit(key: "k", token: old.token))
        clock.advance(by: .seconds(1))
        let new = try #require(try await locks.acquire(key: "k", holder: "new", ttl: .seconds(10), wait: .zero))
        #expect(new.token > old.token)
        #expect(fence.admit(key: "k", token: new.token))
        #expect(!fence.admit(key: "k", token: old.token), "the late write of the expired holder is refused")
        await expectError(.conflict) { try await locks.renew(key: "k", holder: "old", token: old.token, ttl: .seconds(1)) }
        await expectError(.conflict) { try await locks.release(key: "k", holder: "old", token: old.token) }
    }

    @Test("a release wakes the first waiter at once")
    func wakeOnRelease() async throws {
        let locks = self.locks
        let held = try #require(try await locks.acquire(key: "k", holder: "a", ttl: .seconds(60), wait: .zero))
        async let first = locks.acquire(key: "k", holder: "b", ttl: .seconds(5), wait: .seconds(30))
        await clock.waitForSleepers(1)
        async let second = locks.acquire(key: "k", holder: "c", ttl: .seconds(5), wait: .seconds(30))
        await clock.waitForSleepers(2)
        try await locks.release(key: "k", holder: "a", token: held.token)
        let b = try #require(try await first)
        #expect(b.holder == "b" && b.token > held.token)
        #expect(b.expiresAt == clock.now() + .seconds(5))
        try await locks.release(key: "k", holder: "b", token: b.token)
        let c = try #require(try await second)
        #expect(c.holder == "c" && c.token > b.token)
    }

    @Test("a waiter gets the lock when the holder's lease expires")
    func wakeOnExpiry() async throws {
        let locks = self.locks
        _ = try await locks.acquire(key: "k", holder: "a", ttl: .seconds(2), wait: .zero)
        async let waiter = locks.acquire(key: "k", holder: "b", ttl: .seconds(5), wait: .seconds(10))
        await clock.waitForSleepers()
        clock.advance(by: .seconds(2))
        #expect(try await waiter?.holder == "b")
    }

    @Test("a waiter gives up at its deadline")
    func waitTimesOut() async throws {
        let locks = self.locks
        _ = try await locks.acquire(key: "k", holder: "a", ttl: .seconds(60), wait: .zero)
        async let waiter = locks.acquire(key: "k", holder: "b", ttl: .seconds(5), wait: .seconds(3))
        await clock.waitForSleepers()
        clock.advance(by: .seconds(3))
        #expect(try await waiter == nil)
        #expect(try await locks.lease(key: "k")?.holder == "a")
    }

    @Test("a cancelled waiter leaves the queue")
    func cancelledWaiter() async throws {
        let locks = self.locks
        let held = try #require(try await locks.acquire(key: "k", holder: "a", ttl: .seconds(60), wait: .zero))
        let waiter = Task { try await locks.acquire(key: "k", holder: "b", ttl: .seconds(5), wait: .seconds(30)) }
        await clock.waitForSleepers()
        waiter.cancel()
        _ = try? await waiter.value
        try await locks.release(key: "k", holder: "a", token: held.token)
        #expect(try await locks.lease(key: "k") == nil, "nobody was handed the lock")
    }

    @Test("the sweep drops expired leases")
    func sweep() async throws {
        let locks = self.locks
        _ = try await locks.acquire(key: "a", holder: "h", ttl: .seconds(1), wait: .zero)
        _ = try await locks.acquire(key: "b", holder: "h", ttl: .seconds(5), wait: .zero)
        clock.advance(by: .seconds(2))
        #expect(locks.sweepExpired() == 1)
        #expect(try await locks.leases().map(\.key) == ["b"])
    }

    @Test("many contenders never overlap, and the fence admits every holder in order")
    func contention() async throws {
        let locks = MemoryLockService(clock: SystemClock())
        let fence = FencingGuard()
        let inside = Shared(0)
        let overlaps = Shared(0)
        let grants = Shared<[UInt64]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for contender in 0..<16 {
                group.addTask {
                    for _ in 0..<25 {
                        let lease = try #require(
                            try await locks.acquire(key: "shared", holder: "c\(contender)", ttl: .seconds(30), wait: .seconds(30)))
                        if inside.withLock({ $0 += 1; return $0 }) > 1 { overlaps.withLock { $0 += 1 } }
                        #expect(fence.admit(key: "shared", token: lease.token))
                        grants.withLock { $0.append(lease.token) }
                        await Task.yield()
                        inside.withLock { $0 -= 1 }
                        try await locks.release(key: "shared", holder: "c\(contender)", token: lease.token)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(overlaps.withLock { $0 } == 0)
        let tokens = grants.withLock { $0 }
        #expect(tokens.count == 400)
        #expect(tokens == tokens.sorted() && Set(tokens).count == 400, "grants happen in token order")
    }
}
