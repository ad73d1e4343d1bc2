import Foundation
import NIOCore
@testable import SwitchboardNATS
import SwitchboardCore
import SwitchboardJSON
import SwitchboardNATSClient
import SwitchboardTesting
import Synchronization
import Testing

/// Waits (up to five seconds) for `condition`: another server's copy of the stream follows it
/// within milliseconds, not at once.
func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
    for _ in 0..<500 {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("never happened: \(what)")
    throw CancellationError()
}

/// Ready events a backend reports, collected.
final class ReadyEventLog: Sendable {
    private final class Events: Sendable {
        let list = Mutex<[ReadyEvent]>([])
    }

    private let events = Events()
    private let task: Task<Void, Never>

    init(_ backend: NATSTaskBackend) {
        let events = self.events
        task = Task { try? await backend.followReadyEvents { event in events.list.withLock { $0.append(event) } } }
    }

    var all: [ReadyEvent] { events.list.withLock { $0 } }

    deinit { task.cancel() }
}

@Suite("NATS backend across servers and faults", .enabled(if: natsServerBinary != nil), .timeLimit(.minutes(2)))
struct NATSBackendTests {

    @Test("two servers on one NATS share queues, lock keys and the dead letters; work made ready on one wakes the other")
    func twoServersShare() async throws {
        let server = try await NATSServerProcess(jetStream: true)
        let one = try await NATSBackendFixture(server: server)
        let two = try await NATSBackendFixture(server: server)
        defer {
            one.stop()
            two.stop()
        }
        let (a, b) = (one.backend, two.backend)
        let events = ReadyEventLog(b)
        let q = Fixture.queue()
        let plain = Fixture.task(queue: q, priority: 9)
        _ = try await a.enqueue([plain], now: Fixture.t0)
        try await eventually("the other server hears of the new work") { events.all.contains(.queue(q)) }
        let leased = try await b.lease(queues: [q], maxTasks: 5, workerID: "w-b", terms: Fixture.terms, now: Fixture.at(1))
        #expect(leased.map(\.task.id) == [plain.record.id])

        // Lock keys: the key taken on one server is held for the other.
        let key = Fixture.uniqueID("repo")
        let first = Fixture.task(queue: q, lockKey: key)
        let second = Fixture.task(queue: q, lockKey: key)
        _ = try await a.enqueue([first, second], now: Fixture.at(2))
        let held = try await a.lease(queues: [q], maxTasks: 5, workerID: "w-a", terms: Fixture.terms, now: Fixture.at(3))
        #expect(held.map(\.task.id) == [first.record.id])
        try await eventually("the other server sees both keyed tasks") { try await b.task(id: second.record.id) != nil }
        #expect(try await b.lease(queues: [q], maxTasks: 5, workerID: "w-b", terms: Fixture.terms, now: Fixture.at(4)).isEmpty)
        _ = try await a.complete(leaseID: held[0].leaseID, result: nil, now: Fixture.at(5))
        var next: [TaskLease] = []
        try await eventually("the freed key lets the other server lease the next task") {
            next = try await b.lease(queues: [q], maxTasks: 5, workerID: "w-b", terms: Fixture.terms, now: Fixture.at(6))
            return !next.isEmpty
        }
        #expect(next.map(\.task.id) == [second.record.id])
        #expect(try #require(next[0].fencingToken) > (try #require(held[0].fencingToken)))

        // A lease reaped by one server is stale for the other (409): the first result cannot win late.
        try await eventually("the other server sees the lease") { try await a.task(id: second.record.id)?.status == .running }
        let reaped = try await a.reapExpiredLeases(now: Fixture.at(60_000), limit: 10, decide: { _ in .bury })
        #expect(Set(reaped.map(\.id)) == [plain.record.id, second.record.id], "both leases of the other server had expired")
        await #expect(throws: SwitchboardError.self) {
            _ = try await b.complete(leaseID: next[0].leaseID, result: nil, now: Fixture.at(60_001))
        }
        let refused = try await b.complete(batch: [LeaseCompletion(leaseID: next[0].leaseID, result: nil)], now: Fixture.at(60_002))
        #expect((refused[0].failureValue as? SwitchboardError)?.kind == .conflict)

        // The dead letter buried via one server is requeued via the other.
        try await eventually("the burial reaches the other server") {
            Set(try await b.list(TaskFilter(queue: q, status: .dead), page: PageRequest()).items.map(\.id)) == [plain.record.id, second.record.id]
        }
        let requeued = try await b.requeueDead(id: second.record.id, now: Fixture.at(60_003))
        #expect(requeued.status == .pending && requeued.attempts == 0)
        try await eventually("the requeue reaches the first server") { try await a.task(id: second.record.id)?.status == .pending }
    }

    @Test("leasers on two servers at once never get the same task, and each task is leased")
    func concurrentLeasersAcrossServers() async throws {
        let server = try await NATSServerProcess(jetStream: true)
        let one = try await NATSBackendFixture(server: server)
        let two = try await NATSBackendFixture(server: server)
        defer {
            one.stop()
            two.stop()
        }
        let q = Fixture.queue()
        let tasks = (0..<300).map { i in Fixture.task(queue: q, priority: UInt8(i % 4)) }
        _ = try await one.backend.enqueue(tasks, now: Fixture.t0)
        try await eventually("both copies hold every task") { try await two.backend.queues().first { $0.name == q }?.depth[.pending] == 300 }
        let ids = try await withThrowingTaskGroup(of: [String].self) { group in
            for w in 0..<8 {
                let backend = w % 2 == 0 ? one.backend : two.backend
                group.addTask {
                    var mine: [String] = []
                    var idle = 0
                    while idle < 3 {
                        let got = try await backend.lease(queues: [q], maxTasks: 4, workerID: "w\(w)", terms: Fixture.terms, now: Fixture.at(1))
                        mine += got.map(\.task.id)
                        idle = got.isEmpty ? idle + 1 : 0
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(ids.count == 300)
        #expect(Set(ids).count == 300)
    }

    @Test("nats-server killed (-9) and restarted under load (file storage, sync always): no acknowledged task is lost, clients reconnect unaided")
    func serverKilledUnderLoad() async throws {
        let server = try await NATSServerProcess(configuration: "jetstream { sync_interval: always }", jetStream: true)
        let one = try await NATSBackendFixture(server: server)
        defer { one.stop() }
        let q = Fixture.queue()
        let acknowledged = Mutex<[String]>([])
        let producing = Task {
            var i = 0
            while !Task.isCancelled {
                i += 1
                let task = Fixture.task(queue: q, idempotencyKey: "load-\(i)")
                if let outcome = try? await one.backend.enqueue([task], now: Fixture.t0) {
                    acknowledged.withLock { $0.append(outcome[0].task.id) }
                }
            }
        }
        try await eventually("some enqueues acknowledged") { acknowledged.withLock { $0.count } >= 50 }
        server.stop()
        let beforeKill = acknowledged.withLock { $0.count }
        try await server.start()
        try await eventually("enqueues acknowledged again after the restart") { acknowledged.withLock { $0.count } > beforeKill + 50 }
        producing.cancel()
        _ = await producing.result
        let ids = acknowledged.withLock { $0 }
        // A server started afresh on the stream finds every acknowledged task.
        let fresh = try await NATSBackendFixture(server: server)
        defer { fresh.backend.close(); fresh.client.close() }
        var missing: [String] = []
        for id in ids where try await fresh.backend.task(id: id) == nil { missing.append(id) }
        #expect(missing.isEmpty, "acknowledged but lost: \(missing.prefix(5))")
        #expect(one.client.reconnects >= 1)
        // The first server's copy followed the stream through the restart.
        let late = Fixture.task(queue: q)
        _ = try await fresh.backend.enqueue([late], now: Fixture.at(1))
        try await eventually("the reconnected server sees writes made after the restart") { try await one.backend.task(id: late.record.id) != nil }
    }

    @Test("documented difference: a batch over one atomic batch (1000 messages) is stored chunk by chunk; a retry with the same idempotency keys completes it without duplicates")
    func largeBatchIsChunked() async throws {
        let fixture = try await NATSBackendFixture()
        defer { fixture.stop() }
        let backend = fixture.backend
        let q = Fixture.queue()
        // 1000 tasks with idempotency keys are 2000 messages: two atomic chunks.
        let tasks = (0..<1000).map { i in Fixture.task(queue: q, idempotencyKey: "\(q)-\(i)") }
        struct Interrupted: Error {}
        backend.chunkStored = { throw Interrupted() }
        await #expect(throws: Interrupted.self) { _ = try await backend.enqueue(tasks, now: Fixture.t0) }
        let stored = try await backend.queues().first { $0.name == q }?.depth[.pending] ?? 0
        #expect(stored == 500, "the first chunk (500 tasks with their keys) is stored, the second is not")
        backend.chunkStored = nil
        let again = try await backend.enqueue(tasks.map { var t = $0; t.record.id = Fixture.uniqueID(); return t }, now: Fixture.at(1))
        #expect(again.filter(\.created).count == 500, "the retry creates only the missing half")
        #expect(Set(again.map(\.task.id)).count == 1000)
        #expect(try await backend.queues().first { $0.name == q }?.depth[.pending] == 1000)
    }

    @Test("a server cut off for longer than delete markers last reads the whole stream again: what was dropped meanwhile does not linger")
    func rebuildAfterLongSilence() async throws {
        // Markers last 2 s here, so a follower silent for over 1 s rebuilds its copy.
        let fixture = try await NATSBackendFixture(markerTTL: .seconds(2))
        defer { fixture.stop() }
        let backend = fixture.backend
        let q = Fixture.queue()
        let real = Fixture.task(queue: q)
        _ = try await backend.enqueue([real], now: Fixture.t0)
        // A task this copy holds that the stream no longer has (as if its delete marker had
        // come and gone while this server was away).
        var ghost = NATSStoredTask(record: Fixture.task(queue: q).record, readySince: Fixture.t0)
        ghost.createdOrder = 1
        backend.applyUnfollowed(.task(ghost.record.id, ghost), at: 1)
        #expect(try await backend.list(TaskFilter(queue: q), page: PageRequest()).items.count == 2)
        fixture.server.stop()
        try await Task.sleep(for: .milliseconds(1500))
        try await fixture.server.start()
        try await eventually("the copy is read again from the stream") {
            try await backend.list(TaskFilter(queue: q), page: PageRequest()).items.map(\.id) == [real.record.id]
        }
        let leased = try await backend.lease(queues: [q], maxTasks: 5, workerID: "w", terms: Fixture.terms, now: Fixture.at(1))
        #expect(leased.map(\.task.id) == [real.record.id])
    }

    @Test("a write this server did not make that it cannot read is skipped, not fatal")
    func malformedWritesAreSkipped() async throws {
        let fixture = try await NATSBackendFixture()
        defer { fixture.stop() }
        let js = JetStream(client: fixture.client)
        _ = try await js.publish("sb.task.\(SubjectToken.encode("junk"))", payload: ByteBuffer(string: "{not json"))
        let q = Fixture.queue()
        let t = Fixture.task(queue: q)
        _ = try await fixture.backend.enqueue([t], now: Fixture.t0)
        #expect(try await fixture.backend.lease(queues: [q], maxTasks: 1, workerID: "w", terms: Fixture.terms, now: Fixture.at(1)).count == 1)
        #expect(try await fixture.backend.task(id: "junk") == nil)
    }

    @Test("the stored form round-trips, and subjects hold any id")
    func coding() throws {
        var stored = NATSStoredTask(record: Fixture.task(queue: "q", lockKey: "k").record, readySince: Fixture.at(5))
        stored.leaseID = "lease"
        stored.cancelRequested = true
        stored.readyOrder = 7
        stored.createdOrder = 3
        stored.dueAt = Fixture.at(9)
        #expect(try NATSStoredTask(decoding: stored.encoded()) == stored)
        let subjects = NATSTaskSubjects(prefix: "sb")
        for name in ["a", "with.dots:and-dashes", "ünïcode ✓", String(repeating: "x", count: 200)] {
            let subject = subjects.subject(.task, name)
            #expect(subject.split(separator: ".").count == 3)
            #expect(subjects.parse(subject)?.name == name)
        }
        #expect(subjects.parse("sb.other.YQ") == nil)
        for bad in ["A", "a*b", "YQ=", "ab cd", "_w"] { #expect(SubjectToken.decode(bad) == nil, "\(bad)") }
        for _ in 0..<200 {
            let name = String(decoding: (0..<Int.random(in: 0...40)).map { _ in UInt8.random(in: 0x20...0x7e) }, as: UTF8.self)
            #expect(SubjectToken.decode(SubjectToken.encode(name)) == name)
            #expect(SubjectToken.encode(name).allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        }
        #expect(throws: (any Error).self) { try NATSStoredTask(decoding: ByteBuffer(string: #"{"order":1}"#)) }
    }
}


extension Result {
    var failureValue: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
