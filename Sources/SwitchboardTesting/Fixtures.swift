import SwitchboardCore
import SwitchboardJSON
import Synchronization

/// Builders for the conformance checks: tasks as the engine would hand them to a backend, and
/// times relative to one fixed instant.
public enum Fixture {
    /// The instant every check starts at.
    public static let t0 = Timestamp(milliseconds: 1_800_000_000_000)

    public static func at(_ offsetMS: Int64) -> Timestamp {
        Timestamp(milliseconds: t0.milliseconds + offsetMS)
    }

    private static let counterLock = Mutex<Int>(0)

    /// A fresh id, unique across checks (backends may share a store between checks).
    public static func uniqueID(_ prefix: String = "t") -> String {
        let n = counterLock.withLock { value in
            value += 1
            return value
        }
        var random = SystemRandomNumberGenerator()
        return "\(prefix)-\(n)-\(random.next() as UInt32)"
    }

    /// A unique queue name, so checks never see each other's tasks in a shared store.
    public static func queue(_ name: String = "q") -> String { uniqueID(name) }

    public static func task(
        id: String = uniqueID(), queue: String, type: String = "test", priority: UInt8 = 0, runID: String? = nil,
        lockKey: String? = nil, maxRetries: Int = 3, timeoutMS: Int64 = 30_000, notBefore: Timestamp? = nil,
        payload: String = #"{"n":1}"#, idempotencyKey: String? = nil, idempotencyTTLms: Int64 = 60_000,
        now: Timestamp = t0
    ) -> NewTask {
        let record = TaskRecord(
            id: id, queue: queue, type: type, runID: runID, priority: priority, metadata: ["k": "v"],
            payload: RawJSON(unchecked: Array(payload.utf8)), status: notBefore.map { $0 > now ? .scheduled : .pending } ?? .pending,
            maxRetries: maxRetries, timeoutMS: timeoutMS, lockKey: lockKey, notBefore: notBefore,
            createdAt: now, updatedAt: now)
        return NewTask(
            record: record, idempotencyKey: idempotencyKey,
            idempotencyExpiresAt: idempotencyKey.map { _ in Timestamp(milliseconds: now.milliseconds + idempotencyTTLms) })
    }

    public static let terms = LeaseTerms(duration: .seconds(10), grace: .seconds(1))
}
