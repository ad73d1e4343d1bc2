import Synchronization
import SwitchboardCore

/// One named check of the `LockService` contract.
public struct LockConformanceCheck: Sendable, CustomStringConvertible {
    public let name: String
    let body: @Sendable (any LockService) async throws -> Void

    public var description: String { name }

    /// Runs the check against `locks` on real time (lock services are live: a check waits for
    /// a TTL of 100-300 ms at most). Every check uses keys of its own.
    public func run(on locks: any LockService) async throws {
        try await body(locks)
    }
}

/// Holders inside at once, and grants the fence admitted.
final class Tally: Sendable {
    private let state = Mutex((inside: 0, overlaps: 0, admitted: 0))

    func enter(admitted: Bool) {
        state.withLock { s in
            s.inside += 1
            if s.inside > 1 { s.overlaps += 1 }
            if admitted { s.admitted += 1 }
        }
    }

    func leave() { state.withLock { $0.inside -= 1 } }

    var totals: (overlaps: Int, admitted: Int) { state.withLock { ($0.overlaps, $0.admitted) } }
}

/// The lock contract as executable checks: every lock service (memory, Redis, NATS) must pass
/// them unchanged. Test targets run them with `@Test(arguments: LockConformance.checks)`.
public enum LockConformance {
    public static let checks: [LockConformanceCheck] = [
        LockConformanceCheck(name: "acquire, a second holder refused, renew keeps the token, release; tokens strictly increase per key") { locks in
            let key = uniqueKey()
            let a = try unwrap(try await locks.acquire(key: key, holder: "a", ttl: .seconds(10), wait: .zero), "the first acquire")
            try expect(try await locks.acquire(key: key, holder: "b", ttl: .seconds(10), wait: .zero) == nil, "a held lock is not granted again")
            let renewed = try await locks.renew(key: key, holder: "a", token: a.token, ttl: .seconds(20))
            try expectEqual(renewed.token, a.token, "the renewed token")
            try await expectError(.conflict, "renew by another holder") { try await locks.renew(key: key, holder: "b", token: a.token, ttl: .seconds(1)) }
            try await expectError(.conflict, "release with another token") { try await locks.release(key: key, holder: "a", token: a.token + 1) }
            let seen = try unwrap(try await locks.lease(key: key), "the lease")
            try expect(seen.holder == "a" && seen.token == a.token, "the lease names its holder and token")
            try expect(try await locks.leases().contains { $0.key == key && $0.holder == "a" }, "the lease is listed")
            try await locks.release(key: key, holder: "a", token: a.token)
            try expect(try await locks.lease(key: key) == nil, "released")
            try await expectError(.conflict, "a second release") { try await locks.release(key: key, holder: "a", token: a.token) }
            let b = try unwrap(try await locks.acquire(key: key, holder: "b", ttl: .seconds(1), wait: .zero), "the acquire after release")
            try expect(b.token > a.token, "tokens increase: \(b.token) after \(a.token)")
            try await locks.release(key: key, holder: "b", token: b.token)
        },
        LockConformanceCheck(name: "an expired holder is fenced out by its successor's higher token") { locks in
            let key = uniqueKey()
            let fence = FencingGuard()
            let old = try unwrap(try await locks.acquire(key: key, holder: "old", ttl: .milliseconds(200), wait: .zero), "the first holder")
            try expect(fence.admit(key: key, token: old.token), "the first write")
            let new = try unwrap(try await locks.acquire(key: key, holder: "new", ttl: .seconds(10), wait: .seconds(10)), "the successor")
            try expect(new.token > old.token, "a higher token")
            try expect(fence.admit(key: key, token: new.token), "the successor's write")
            try expect(!fence.admit(key: key, token: old.token), "the late write is refused")
            try await expectError(.conflict, "renew by the expired holder") { try await locks.renew(key: key, holder: "old", token: old.token, ttl: .seconds(1)) }
            try await locks.release(key: key, holder: "new", token: new.token)
        },
        LockConformanceCheck(name: "a release wakes a waiter at once, long before the holder's TTL") { locks in
            let key = uniqueKey()
            let held = try unwrap(try await locks.acquire(key: key, holder: "a", ttl: .seconds(30), wait: .zero), "the holder")
            let started = ContinuousClock.now
            async let waiter = locks.acquire(key: key, holder: "b", ttl: .seconds(5), wait: .seconds(20))
            try await Task.sleep(for: .milliseconds(150))
            try await locks.release(key: key, holder: "a", token: held.token)
            let granted = try unwrap(try await waiter, "the waiter's grant")
            try expect(granted.holder == "b" && granted.token > held.token, "granted to the waiter with a higher token")
            try expect(ContinuousClock.now - started < .seconds(10), "woken by the release, not by the 30 s TTL")
            try await locks.release(key: key, holder: "b", token: granted.token)
        },
        LockConformanceCheck(name: "a waiter gives up after its wait; a cancelled one at once") { locks in
            let key = uniqueKey()
            let held = try unwrap(try await locks.acquire(key: key, holder: "a", ttl: .seconds(30), wait: .zero), "the holder")
            try expect(try await locks.acquire(key: key, holder: "b", ttl: .seconds(1), wait: .milliseconds(150)) == nil, "not granted")
            let started = ContinuousClock.now
            let waiter = Task { try await locks.acquire(key: key, holder: "c", ttl: .seconds(1), wait: .seconds(30)) }
            try await Task.sleep(for: .milliseconds(100))
            waiter.cancel()
            try expect(try await waiter.value == nil, "a cancelled wait ends empty")
            try expect(ContinuousClock.now - started < .seconds(10), "not after the 30 s wait")
            try await locks.release(key: key, holder: "a", token: held.token)
        },
        LockConformanceCheck(name: "contenders never overlap, and every grant passes the fence in order") { locks in
            let key = uniqueKey()
            let fence = FencingGuard()
            let tally = Tally()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for contender in 0..<4 {
                    group.addTask {
                        for _ in 0..<6 {
                            let lease = try unwrap(
                                try await locks.acquire(key: key, holder: "c\(contender)", ttl: .seconds(10), wait: .seconds(30)), "a grant")
                            tally.enter(admitted: fence.admit(key: key, token: lease.token))
                            await Task.yield()  // the holder's work: room for a broken lock to let another in
                            tally.leave()
                            try await locks.release(key: key, holder: "c\(contender)", token: lease.token)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let (overlaps, admitted) = tally.totals
            try expectEqual(overlaps, 0, "overlapping holders")
            try expectEqual(admitted, 24, "grants admitted by the fence")
        },
        LockConformanceCheck(name: "bad arguments are refused before the store is asked") { locks in
            try await expectError(.invalid, "an empty key") { try await locks.acquire(key: "", holder: "h", ttl: .seconds(1), wait: .zero) }
            try await expectError(.invalid, "a zero TTL") { try await locks.acquire(key: "k", holder: "h", ttl: .zero, wait: .zero) }
            try await expectError(.invalid, "a negative wait") { try await locks.acquire(key: "k", holder: "h", ttl: .seconds(1), wait: .seconds(-1)) }
        },
    ]

    /// A key no other check (or run) uses; printable, with a space and a dot, as lock keys may be.
    static func uniqueKey() -> String {
        "conformance lock.\(UInt64.random(in: 0...UInt64.max))"
    }
}
