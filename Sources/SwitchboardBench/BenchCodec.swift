import Foundation
import SwitchboardClient
import SwitchboardCore

/// The codec scenario: the JSON work a task costs on the remote path, apart from HTTP — the
/// server writing a lease answer of 128 leased tasks, a worker reading it back whole (the very
/// code of the lease route and of the client) — against
/// Foundation's `JSONSerialization` reading the same answer (into a tree, without the checks).
enum BenchCodec {
    static func run(quick: Bool) {
        let batch = 128
        let leases = sampleLeases(batch)
        let rounds = quick ? 100 : 2000
        var sink = 0

        let answer = write(leases)
        let foundationStart = ContinuousClock.now
        for _ in 0..<rounds {
            let tree = try? JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any]
            sink &+= (tree?["items"] as? [Any])?.count ?? 0
        }
        let foundationSeconds = BenchScenarios.seconds(since: foundationStart)

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
            scenario: "codec", backend: "none", tasks: tasks, seconds: writeSeconds + readSeconds,
            baselineName: "Foundation JSONSerialization reading the same lease answer", baselinePerSec: Double(tasks) / foundationSeconds,
            extra: [
                ("bytes_per_task", "\(answer.count / batch)"), ("write_ns_per_task", nanoseconds(writeSeconds)),
                ("read_ns_per_task", nanoseconds(readSeconds)),
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
        var w = JSONWriter(capacity: 96 + leases.count * 800)
        w.beginObject()
        w.key("items")
        w.beginArray()
        for lease in leases { lease.write(to: &w) }
        w.endArray()
        w.endObject()
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
