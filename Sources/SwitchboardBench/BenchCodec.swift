import Foundation
import SwitchboardAPI
import SwitchboardClient
import SwitchboardCore
import SwitchboardJSON

/// The codec scenario: the JSON work a task costs on the remote path, apart from HTTP — the
/// server writing a lease answer of 128 leased tasks, and a worker reading it back whole with
/// the API module's pull reader (the very code of the lease route and of the client) — against
/// Foundation's `JSONDecoder` reading the same answer into `Decodable` leases and tasks (what
/// the client would use without the hand-written reader). The result is the hand reader's rate;
/// the ratio says whether it earns its lines.
enum BenchCodec {
    static func run(quick: Bool) {
        let batch = 128
        let leases = sampleLeases(batch)
        let rounds = quick ? 100 : 2000
        var sink = 0

        let answer = write(leases)
        let decoder = JSONDecoder()
        let decoderStart = ContinuousClock.now
        for _ in 0..<rounds {
            let decoded = try? decoder.decode(DecodedAnswer.self, from: Data(answer))
            sink &+= decoded?.items.reduce(0) { $0 + $1.task.attempts } ?? 0
        }
        let decoderSeconds = BenchScenarios.seconds(since: decoderStart)

        let writeStart = ContinuousClock.now
        for _ in 0..<rounds { sink &+= write(leases).count }
        let writeSeconds = BenchScenarios.seconds(since: writeStart)
        let readStart = ContinuousClock.now
        for _ in 0..<rounds { sink &+= read(answer) }
        let readSeconds = BenchScenarios.seconds(since: readStart)
        precondition(sink > 0)

        let tasks = rounds * batch
        let nanoseconds = { (seconds: Double) in String(Int(seconds * 1e9 / Double(tasks))) }
        BenchResult(
            scenario: "codec", backend: "none", tasks: tasks, seconds: readSeconds,
            baselineName: "Foundation JSONDecoder reading the same lease answer", baselinePerSec: Double(tasks) / decoderSeconds,
            extra: [
                ("bytes_per_task", "\(answer.count / batch)"), ("write_ns_per_task", nanoseconds(writeSeconds)),
                ("read_ns_per_task", nanoseconds(readSeconds)), ("jsondecoder_ns_per_task", nanoseconds(decoderSeconds)),
            ]
        ).print()
    }

    /// Leased no-op tasks as a busy server hands them out: leased in one millisecond, enqueued
    /// over a few.
    private static func sampleLeases(_ count: Int) -> [TaskLease] {
        let now = Timestamp.now()
        return (0..<count).map { i in
            let task = TaskRecord(
                id: UUIDv7.make(at: now, random: (.random(in: 0...UInt64.max), .random(in: 0...UInt64.max))), queue: "bench",
                type: "tool_call", payload: RawJSON(unchecked: Array(#"{"tool_name":"echo","input":{}}"#.utf8)), status: .running,
                attempts: 1, maxRetries: 3, timeoutMS: 30_000, createdAt: Timestamp(milliseconds: now.milliseconds - 1000 + Int64(i / 16)),
                updatedAt: now, startedAt: now, workerID: "remote-0", leaseExpiresAt: now + .seconds(35))
            // The memory backend's shape: 32 random hex digits, then the task's id.
            return TaskLease(leaseID: "c7d89b7171f8524899a7f81b2aba1034" + task.id, expiresAt: now + .seconds(35), task: task, readySince: now)
        }
    }

    /// As the lease route writes its answer.
    private static func write(_ leases: [TaskLease]) -> [UInt8] {
        var w = JSONWriter(capacity: LeaseAnswer.capacity(for: leases))
        LeaseAnswer.write(leases: leases, completed: nil, to: &w)
        return w.bytes
    }

    /// As a worker's client reads it; the tasks' attempts summed so that nothing is skipped.
    private static func read(_ answer: [UInt8]) -> Int {
        do {
            return try APIClient.readLeaseAnswer(answer).leases.reduce(0) { $0 + $1.task.attempts }
        } catch {
            fatalError("the codec scenario cannot read its own answer: \(error)")
        }
    }
}

/// The lease answer as `Decodable` types: what reading it with `JSONDecoder` takes (times parsed
/// as the API's, `payload` and `result` as trees since the decoder cannot keep their bytes).
private struct DecodedAnswer: Decodable {
    var items: [DecodedLease]
}

private struct DecodedLease: Decodable {
    var leaseID: String
    var expiresAt: Timestamp
    var task: DecodedTask

    enum CodingKeys: String, CodingKey {
        case leaseID = "lease_id"
        case expiresAt = "expires_at"
        case task
    }
}

private struct DecodedTask: Decodable {
    struct ErrorEntry: Decodable {
        var attempt: Int
        var at: Timestamp
        var message: String
        var workerID: String?

        enum CodingKeys: String, CodingKey {
            case attempt, at, message
            case workerID = "worker_id"
        }
    }

    var id, queue, type, status: String
    var runID, lockKey, workerID, error: String?
    var priority, attempts, maxRetries: Int
    var timeoutMS: Int64
    var metadata: [String: String]
    var payload: JSONValue
    var result: JSONValue?
    var notBefore, startedAt, finishedAt, leaseExpiresAt: Timestamp?
    var createdAt, updatedAt: Timestamp
    var errors: [ErrorEntry]

    enum CodingKeys: String, CodingKey {
        case id, queue, type, status, priority, attempts, metadata, payload, result, error, errors
        case runID = "run_id"
        case lockKey = "lock_key"
        case workerID = "worker_id"
        case maxRetries = "max_retries"
        case timeoutMS = "timeout_ms"
        case notBefore = "not_before"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case leaseExpiresAt = "lease_expires_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}
