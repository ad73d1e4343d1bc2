import Foundation
@testable import SwitchboardCore
import SwitchboardJSON
import SwitchboardTesting
import Testing

@Suite("Times and ids")
struct TimeAndIDTests {
    @Test("RFC 3339 formatting is UTC with milliseconds", arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (1_795_000_000_123, "2026-11-18T11:06:40.123Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ])
    func format(_ ms: Int64, _ text: String) {
        #expect(Timestamp(milliseconds: ms).rfc3339 == text)
        #expect(Timestamp(rfc3339: text)?.milliseconds == ms)
    }

    @Test("RFC 3339 parsing accepts offsets and any fraction length")
    func parseVariants() {
        #expect(Timestamp(rfc3339: "2026-11-27T10:00:00Z")?.rfc3339 == "2026-11-27T10:00:00.000Z")
        #expect(Timestamp(rfc3339: "2026-11-27t10:00:00.5z")?.rfc3339 == "2026-11-27T10:00:00.500Z")
        #expect(Timestamp(rfc3339: "2026-11-27T12:30:00.123456+02:30")?.rfc3339 == "2026-11-27T10:00:00.123Z")
        #expect(Timestamp(rfc3339: "2026-11-27T00:00:00-01:00")?.rfc3339 == "2026-11-27T01:00:00.000Z")
    }

    @Test("malformed times are refused", arguments: [
        "", "2026-11-27", "2026-11-27T10:00:00", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-11-27T24:00:00Z", "2026-11-27T10:00:00.Z", "2026-11-27T10:00:00Zjunk", "26-11-27T10:00:00Z",
        "2026-11-27T10:00:00+2:00",
    ])
    func malformed(_ text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test("round trip over many instants")
    func roundTrip() {
        var rng = SeededRandom()
        for _ in 0..<2000 {
            let ms = Int64.random(in: -10_000_000_000_000...250_000_000_000_000, using: &rng)
            #expect(Timestamp(rfc3339: Timestamp(milliseconds: ms).rfc3339)?.milliseconds == ms, "\(rng)")
        }
    }

    @Test("the tests' seeded generator replays a seed exactly, and another seed differs")
    func seededRandom() {
        var (a, b, c) = (SeededRandom(seed: 42), SeededRandom(seed: 42), SeededRandom(seed: 43))
        let first = (0..<8).map { _ in a.next() }
        #expect(first == (0..<8).map { _ in b.next() })
        #expect(first != (0..<8).map { _ in c.next() })
        #expect(a.description.contains("SWITCHBOARD_TEST_SEED=42"))
    }

    @Test("UUIDv7 ids carry their time, version and variant, and are unique")
    func uuidV7() {
        var random = RandomBytes()
        let now = Timestamp(milliseconds: 1_795_000_000_123)
        let ids = (0..<1000).map { _ in UUIDv7.make(at: now, random: random.next16()) }
        #expect(Set(ids).count == 1000)
        for id in ids {
            #expect(id.count == 36)
            #expect(UUIDv7.timestamp(of: id) == now)
            let chars = Array(id)
            #expect(chars[14] == "7")
            #expect("89ab".contains(chars[19]))
            #expect(UUID(uuidString: id) != nil)
        }
        let later = UUIDv7.make(at: now + .milliseconds(1), random: random.next16())
        #expect(ids.allSatisfy { $0 < later }, "time-ordered")
    }
}

@Suite("Retry policy")
struct RetryPolicyTests {
    @Test("the ceiling doubles from the base and stops at the cap")
    func ceiling() {
        let policy = RetryPolicy(baseDelay: .milliseconds(500), maxDelay: .seconds(5))
        let ceilings = (1...7).map { policy.backoff().ceiling(afterAttempt: $0).wholeMilliseconds }
        #expect(ceilings == [500, 1000, 2000, 4000, 5000, 5000, 5000])
        #expect(policy.backoff().ceiling(afterAttempt: 500).wholeMilliseconds == 5000, "no overflow")
        #expect(policy.backoff(base: .milliseconds(100)).ceiling(afterAttempt: 2).wholeMilliseconds == 200, "a worker's own base")
    }

    @Test("one backoff for every retry loop: without jitter the wait is the ceiling; with it, within [0, ceiling]")
    func backoff() {
        let fixed = Backoff(base: .milliseconds(100), cap: .seconds(5), jitter: .none)
        #expect((1...8).map { fixed.delay(afterAttempt: $0).wholeMilliseconds } == [100, 200, 400, 800, 1600, 3200, 5000, 5000])
        let jittered = Backoff(base: .milliseconds(100), cap: .seconds(1))
        #expect(jittered.delay(afterAttempt: 3) { $0 } == .milliseconds(400))
        #expect(jittered.delay(afterAttempt: 3) { _ in 9999 } == .milliseconds(400), "clamped to the ceiling")
        #expect(jittered.delay(afterAttempt: 3) { _ in -5 } == .zero)
        for attempt in 1...20 {
            let delay = jittered.delay(afterAttempt: attempt)
            #expect(delay >= .zero && delay <= jittered.ceiling(afterAttempt: attempt))
        }
        #expect(Backoff(base: .seconds(1), cap: .seconds(2)).ceiling(afterAttempt: 0) == .seconds(1), "attempt 0 reads as the first")
    }

    @Test("full jitter stays within [0, ceiling]")
    func jitter() {
        let policy = RetryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(60))
        let now = Timestamp(milliseconds: 1000)
        var task = TaskSubmission.toolCall("echo").asRecord()
        task.attempts = 3
        var seen: Set<Int64> = []
        for _ in 0..<500 {
            guard case .retry(let at) = policy.decide(task, retryable: true, now: now) else {
                Issue.record("expected a retry")
                return
            }
            #expect((1000...5000).contains(at.milliseconds))
            seen.insert(at.milliseconds)
        }
        #expect(seen.count > 50, "delays are spread out")
    }

    @Test("retries while attempts remain, then buries; non-retryable buries at once")
    func decisions() {
        let policy = RetryPolicy(jitter: { $0 })
        var task = TaskSubmission.toolCall("echo").asRecord()
        task.maxRetries = 2
        for (attempts, expectRetry) in [(1, true), (2, true), (3, false)] {
            task.attempts = attempts
            let decision = policy.decide(task, retryable: true, now: Timestamp(milliseconds: 0))
            #expect((decision != .bury) == expectRetry, "attempt \(attempts)")
        }
        task.attempts = 1
        #expect(policy.decide(task, retryable: false, now: Timestamp(milliseconds: 0)) == .bury)
        #expect(policy.decide(task, retryable: true, now: Timestamp(milliseconds: 0), baseDelay: .seconds(7)) == .retry(at: Timestamp(milliseconds: 7000)))
    }
}

extension TaskSubmission {
    func asRecord() -> TaskRecord {
        TaskRecord(
            id: "x", queue: "default", type: type ?? "tool_call", payload: payload, status: .running, maxRetries: 3,
            timeoutMS: 1000, createdAt: Timestamp(milliseconds: 0), updatedAt: Timestamp(milliseconds: 0))
    }
}
