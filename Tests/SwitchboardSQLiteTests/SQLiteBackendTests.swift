import Foundation
import SwitchboardCore
import SwitchboardJSON
import GRDB
@testable import SwitchboardSQLite
import SwitchboardTesting
import Synchronization
import Testing

/// A database file in a directory of its own, removed at the end.
struct ScratchDatabase {
    let directory: String
    var path: String { directory + "/switchboard.sqlite" }

    init() throws {
        directory = NSTemporaryDirectory() + "switchboard-sqlite-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func open(synchronous: SQLiteConfiguration.Synchronous = .normal, maxBytes: Int64? = nil) throws -> SQLiteTaskBackend {
        try SQLiteTaskBackend(configuration: SQLiteConfiguration(path: path, synchronous: synchronous, maxBytes: maxBytes))
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

@Suite("SQLite backend conformance", .timeLimit(.minutes(2)))
struct SQLiteBackendConformanceTests {
    @Test(arguments: BackendConformance.checks)
    func check(_ check: BackendConformanceCheck) async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let backend = try scratch.open()
        try await check.run(on: backend)
        await backend.close()
    }

    @Test("all checks also pass against one shared file, and again after it is reopened")
    func sharedStoreAndReopen() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let backend = try scratch.open(synchronous: .full)
        for check in BackendConformance.checks { try await check.run(on: backend) }
        let before = try await everything(backend)
        await backend.close()
        let reopened = try scratch.open()
        #expect(try await everything(reopened) == before, "the file holds exactly what the backend answered")
        await reopened.close()
    }

    @Test("the SQLite backend plays every role")
    func roles() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let backend = try scratch.open()
        #expect(BackendRole.roles(of: backend) == Set(BackendRole.allCases))
        await backend.close()
    }

    /// Every task (also dead ones, in burial order), queue and run, as the backend lists them.
    private struct Everything: Equatable {
        var tasks: [TaskRecord] = []
        var buried: [String] = []
        var queues: [QueueInfo] = []
        var runs: [String] = []
    }

    private func everything(_ backend: SQLiteTaskBackend) async throws -> Everything {
        var all = Everything()
        var cursor: String?
        repeat {
            let page = try await backend.list(TaskFilter(), page: PageRequest(limit: 1000, cursor: cursor))
            all.tasks += page.items
            cursor = page.nextCursor
        } while cursor != nil
        all.buried = try await backend.list(TaskFilter(status: .dead), page: PageRequest(limit: 1000)).items.map(\.id)
        all.queues = try await backend.queues()
        all.runs = try await backend.runs(page: PageRequest(limit: 1000)).items
        return all
    }
}

@Suite("SQLite state rows")
struct StateRowTests {
    private func roundTrip(_ task: StoredMemoryTask) throws -> StoredMemoryTask {
        var body = JSONWriter(capacity: 256)
        task.encodeBody(into: &body)
        var row: [UInt8] = []
        var tail = JSONWriter(capacity: 256)
        task.encodeState(into: &row, tail: &tail)
        return try StoredMemoryTask(sequence: task.createdSequence, body: body.bytes, state: row)
    }

    @Test("every field a transition sets comes back as it was written")
    func everyField() throws {
        var record = Fixture.task(id: "01JTASK", queue: "q", runID: "run-1", lockKey: "res", notBefore: Fixture.t0 + .seconds(5)).record
        record.status = .retrying
        record.attempts = 3
        record.releases = 2
        record.updatedAt = Fixture.t0 + .milliseconds(1234)
        record.startedAt = Fixture.t0 + .milliseconds(1000)
        record.finishedAt = Fixture.t0 + .milliseconds(1200)
        record.workerID = "wörker-✓"
        record.leaseExpiresAt = Fixture.t0 + .seconds(40)
        record.result = RawJSON(unchecked: Array(#"{"ok":[1,2,{"x":null}]}"#.utf8))
        record.error = "boom \"quoted\""
        record.errors = [
            TaskErrorEntry(attempt: 1, at: Fixture.t0, message: "first", workerID: "w1", startedAt: Fixture.t0 - .seconds(1)),
            TaskErrorEntry(attempt: 2, at: Fixture.t0 + .seconds(1), message: "second", workerID: nil),
        ]
        let full = StoredMemoryTask(
            record: record, createdSequence: 42, readySequence: 1 << 40, readySince: Timestamp(milliseconds: -5),
            dueAt: Fixture.t0 + .seconds(9), leaseID: "not-a-memory-lease-id", cancelRequested: true, deadSequence: 7)
        #expect(try roundTrip(full) == full)

        // A lease id of the memory backend's shape keeps only its random digits in the row.
        var running = full
        running.record.status = .running
        running.record.result = nil
        running.record.error = nil
        running.record.errors = []
        running.leaseID = String(repeating: "ab", count: 16) + record.id
        running.cancelRequested = false
        running.dueAt = nil
        #expect(try roundTrip(running) == running)

        // An id whose canonically equivalent spelling differs in bytes keeps its lease id exact.
        var composed = running
        composed.record.id = "xa\u{316}\u{301}"
        composed.leaseID = String(repeating: "cd", count: 16) + "xa\u{301}\u{316}"
        let back = try roundTrip(composed)
        #expect(Array(back.leaseID!.utf8) == Array(composed.leaseID!.utf8))

        // Nothing optional at all.
        var plain = running
        plain.record = Fixture.task(id: "01JPLAIN", queue: "q").record
        plain.leaseID = nil
        plain.deadSequence = 0
        #expect(try roundTrip(plain) == plain)
    }

    @Test("every status has a code, and the codes stay where the files have them")
    func statusCodes() throws {
        #expect(Set(StateRow.statuses) == Set(TaskStatus.allCases), "a new status needs a code (at the end)")
        #expect(StateRow.statuses.count == TaskStatus.allCases.count)
        #expect(StateRow.statuses.prefix(7) == [.scheduled, .pending, .running, .retrying, .completed, .dead, .cancelled])
        for status in TaskStatus.allCases { #expect(try StateRow.status(coded: StateRow.code(of: status)) == status) }
    }

    @Test("a cut, unknown or malformed state row is refused, not read as something else")
    func malformedRows() throws {
        let task = StoredMemoryTask(record: Fixture.task(id: "01JTASK", queue: "q").record, createdSequence: 1, readySequence: 1, readySince: Fixture.t0)
        var body = JSONWriter(capacity: 256)
        task.encodeBody(into: &body)
        var row: [UInt8] = []
        var tail = JSONWriter(capacity: 256)
        task.encodeState(into: &row, tail: &tail)
        for cut in 0..<row.count {
            #expect(throws: (any Error).self) { try StoredMemoryTask(sequence: 1, body: body.bytes, state: Array(row.prefix(cut))) }
        }
        var unknownFormat = row
        unknownFormat[0] = 9
        #expect(throws: (any Error).self) { try StoredMemoryTask(sequence: 1, body: body.bytes, state: unknownFormat) }
        var unknownStatus = row
        unknownStatus[1] = 200
        #expect(throws: (any Error).self) { try StoredMemoryTask(sequence: 1, body: body.bytes, state: unknownStatus) }
        #expect(throws: (any Error).self) { try StoredMemoryTask(sequence: 1, body: Array("[]".utf8), state: row) }
        #expect(try StoredMemoryTask(sequence: 1, body: body.bytes, state: row) == task)
    }
}

@Suite("SQLite backend: restarts and faults", .timeLimit(.minutes(2)))
struct SQLiteBackendFaultTests {
    let terms = LeaseTerms(duration: .seconds(30), grace: .zero)

    @Test("queued, scheduled, running and dead tasks, paused queues, idempotency keys and fencing survive a reopen")
    func survivesReopen() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let t0 = Fixture.t0
        let backend = try scratch.open()
        _ = try await backend.enqueue(
            [
                Fixture.task(id: "a", queue: "q"), Fixture.task(id: "b", queue: "q", priority: 5),
                Fixture.task(id: "keyed", queue: "q", idempotencyKey: "k1", idempotencyTTLms: 3_600_000),
                Fixture.task(id: "later", queue: "q", notBefore: t0 + .seconds(60)),
                Fixture.task(id: "locked", queue: "locks", lockKey: "res"),
            ], now: t0)
        let fenced = try #require(try await backend.lease(queues: ["locks"], maxTasks: 1, workerID: "w", terms: terms, now: t0).first)
        let first = try #require(try await backend.lease(queues: ["q"], maxTasks: 1, workerID: "w", terms: terms, now: t0).first)
        #expect(first.task.id == "b", "priority first")
        let doomed = try #require(try await backend.lease(queues: ["q"], maxTasks: 1, workerID: "w", terms: terms, now: t0).first)
        _ = try await backend.fail(leaseID: doomed.leaseID, message: "boom", now: t0, decide: { _ in .bury })
        _ = try await backend.setPaused(true, queue: "paused-empty")
        await backend.close()

        let reopened = try scratch.open()
        defer { Task { await reopened.close() } }
        #expect(try await reopened.task(id: "b")?.status == .running)
        #expect(try await reopened.task(id: doomed.task.id)?.status == .dead)
        #expect(try await reopened.list(TaskFilter(status: .dead), page: PageRequest()).items.map(\.id) == [doomed.task.id])
        #expect(try await reopened.queues().first { $0.name == "paused-empty" }?.paused == true)
        let again = try await reopened.enqueue(
            [Fixture.task(id: "other", queue: "q", idempotencyKey: "k1", idempotencyTTLms: 3_600_000)], now: t0)
        #expect(again.first?.created == false && again.first?.task.id == "keyed", "the idempotency key held across the restart")
        // The held lease still counts: completing it with its receipt works after the restart.
        let done = try await reopened.complete(batch: [LeaseCompletion(leaseID: first.leaseID, result: nil)], now: t0)
        #expect(try done.first?.get().status == .completed)
        // The lock key is still held by the leased task; once it is reaped, the next lease of
        // that key gets a larger fencing token than any before the restart.
        _ = try await reopened.enqueue([Fixture.task(id: "locked-2", queue: "locks", lockKey: "res")], now: t0)
        #expect(try await reopened.lease(queues: ["locks"], maxTasks: 1, workerID: "w", terms: terms, now: t0).isEmpty)
        let reaped = try await reopened.reapExpiredLeases(now: t0 + .seconds(31), limit: 10, decide: { _ in .bury })
        #expect(reaped.map(\.id).contains("locked"))
        let next = try #require(
            try await reopened.lease(queues: ["locks"], maxTasks: 1, workerID: "w", terms: terms, now: t0 + .seconds(31)).first)
        #expect(next.task.id == "locked-2")
        #expect(try #require(next.fencingToken) > (fenced.fencingToken ?? .max))
        // Still in order: the remaining ready task, then the scheduled one once due.
        let rest = try await reopened.lease(queues: ["q"], maxTasks: 10, workerID: "w", terms: terms, now: t0 + .seconds(61))
        #expect(rest.map(\.task.id) == ["keyed", "later"])
    }

    @Test("a full disk refuses writes with insufficient storage, keeps every acknowledged task, and reads go on")
    func fullDisk() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let backend = try scratch.open(maxBytes: 256 * 1024)
        let payload = "\"" + String(repeating: "x", count: 2000) + "\""
        var acknowledged: [String] = []
        var refusal: SwitchboardError?
        for i in 0..<1000 {
            let task = Fixture.task(id: "t\(i)", queue: "q", payload: payload)
            do {
                _ = try await backend.enqueue([task], now: Fixture.t0)
                acknowledged.append("t\(i)")
            } catch let error as SwitchboardError {
                refusal = error
                break
            }
        }
        let error = try #require(refusal, "the file's limit was reached")
        #expect(error.kind == .insufficientStorage)
        #expect(error.detail.contains("full"))
        #expect(!acknowledged.isEmpty)
        // Nothing of the refused write is visible, every acknowledged task is.
        #expect(try await backend.task(id: "t\(acknowledged.count)") == nil)
        #expect(try await backend.queues().first?.depth[.pending] == acknowledged.count)
        // Writes right after are refused at once; reads and leases of what is there still answer.
        await #expect(throws: SwitchboardError.self) {
            _ = try await backend.enqueue([Fixture.task(id: "again", queue: "q")], now: Fixture.t0)
        }
        await backend.close()
        let reopened = try scratch.open()
        let page = try await reopened.list(TaskFilter(), page: PageRequest(limit: 1000))
        #expect(page.items.map(\.id).sorted() == acknowledged.sorted())
        await reopened.close()
    }

    @Test("once closed, a write is refused rather than left waiting for a commit that will not come")
    func closed() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let backend = try scratch.open()
        _ = try await backend.enqueue([Fixture.task(id: "kept", queue: "q")], now: Fixture.t0)
        await backend.close()
        await #expect(throws: SwitchboardError.unavailable("the database is closed")) {
            _ = try await backend.enqueue([Fixture.task(queue: "q")], now: Fixture.t0)
        }
        #expect(try await backend.task(id: "kept")?.status == .pending, "reads still answer")
    }

    @Test("retention that drops many tasks hands their pages back to the file system (incremental vacuum)")
    func reclaimsSpace() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let backend = try scratch.open()
        let payload = "\"" + String(repeating: "x", count: 2000) + "\""
        _ = try await backend.enqueue((0..<1000).map { Fixture.task(id: "t\($0)", queue: "q", payload: payload) }, now: Fixture.t0)
        let leases = try await backend.lease(queues: ["q"], maxTasks: 1000, workerID: "w", terms: Fixture.terms, now: Fixture.t0)
        _ = try await backend.complete(batch: leases.map { LeaseCompletion(leaseID: $0.leaseID, result: nil) }, now: Fixture.t0)
        func pages() async throws -> (free: Int, total: Int) {
            try await backend.store.database.read { db in
                (try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0, try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0)
            }
        }
        let before = try await pages()
        #expect(before.total > 500)
        let dropped = try await backend.trim(finishedBefore: Fixture.t0 + .seconds(1), keepAtMost: 0, now: Fixture.t0 + .seconds(1))
        #expect(dropped == 1000)
        let after = try await pages()
        #expect(after.free < 256, "freed pages were handed back, not kept on the free list")
        #expect(after.total * 2 < before.total, "the file shrank")
        await backend.close()
    }

    @Test("a new task is one row (its state beside its body) until its first transition writes its tasks row")
    func createdStateRow() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let t0 = Fixture.t0
        let backend = try scratch.open()
        _ = try await backend.enqueue([Fixture.task(id: "queued", queue: "q"), Fixture.task(id: "moved", queue: "q")], now: t0)
        _ = try await backend.cancel(id: "moved", now: t0)
        await backend.close()
        let raw = try DatabaseQueue(path: scratch.path)
        let rows = try await raw.read { db in
            try Row.fetchAll(db, sql: "SELECT sequence, created_state IS NOT NULL AS created, (SELECT count(*) FROM tasks WHERE tasks.sequence = task_bodies.sequence) AS later FROM task_bodies ORDER BY sequence")
                .map { [$0[1] as Int, $0[2] as Int] }
        }
        try raw.close()
        #expect(rows == [[1, 0], [1, 1]], "both bodies carry their first state; only the cancelled task has a tasks row")
        let reopened = try scratch.open()
        #expect(try await reopened.task(id: "queued")?.status == .pending)
        #expect(try await reopened.task(id: "moved")?.status == .cancelled, "the tasks row wins over the state at creation")
        await reopened.close()
    }

    @Test("a file of schema 1 (a tasks row for every task) is upgraded at start and read whole")
    func upgradesSchemaOne() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let t0 = Fixture.t0
        let backend = try scratch.open()
        _ = try await backend.enqueue([Fixture.task(id: "queued", queue: "q"), Fixture.task(id: "running", queue: "q")], now: t0)
        let lease = try #require(try await backend.lease(queues: ["q"], maxTasks: 1, workerID: "w", terms: terms, now: t0).first)
        #expect(lease.task.id == "queued")
        await backend.close()
        // Schema 1 as it landed: no created_state, every state in tasks.
        let raw = try DatabaseQueue(path: scratch.path)
        try await raw.write { db in
            try db.execute(sql: "INSERT INTO tasks (sequence, state) SELECT sequence, created_state FROM task_bodies WHERE sequence NOT IN (SELECT sequence FROM tasks)")
            try db.execute(sql: "ALTER TABLE task_bodies DROP COLUMN created_state")
            try db.execute(sql: "PRAGMA user_version = 1")
        }
        try raw.close()
        let reopened = try scratch.open()
        #expect(try await reopened.task(id: "queued")?.status == .running)
        #expect(try await reopened.task(id: "running")?.status == .pending)
        _ = try await reopened.enqueue([Fixture.task(id: "new", queue: "q")], now: t0)
        await reopened.close()
        let check = try DatabaseQueue(path: scratch.path)
        let (version, created) = try await check.read { db in
            (try Int.fetchOne(db, sql: "PRAGMA user_version"), try Int.fetchOne(db, sql: "SELECT count(*) FROM task_bodies WHERE created_state IS NOT NULL"))
        }
        try check.close()
        #expect(version == 2 && created == 1, "upgraded in place; the task enqueued after it is one row")
        let again = try scratch.open()
        #expect(try await again.list(TaskFilter(), page: PageRequest()).items.count == 3)
        await again.close()
    }

    @Test("a file written by a newer schema is refused at start, untouched")
    func newerSchema() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        try await scratch.open().close()
        let raw = try DatabaseQueue(path: scratch.path)
        try await raw.write { try $0.execute(sql: "PRAGMA user_version = 99") }
        try raw.close()
        #expect {
            _ = try scratch.open()
        } throws: { error in
            "\(error)".contains("newer switchboard") && "\(error)".contains("schema 99")
        }
    }

    @Test("the durability report names the file and level, and warns of power loss under NORMAL only")
    func durabilityReport() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let normal = try scratch.open(synchronous: .normal)
        let report = try await normal.durabilityReport()
        #expect(report.survivesRestart && report.settings["synchronous"] == "NORMAL")
        #expect(report.settings["storage"]?.contains(scratch.path) == true)
        #expect(report.warnings.count == 1 && report.warnings[0].contains("power loss"))
        await normal.close()
        let full = try scratch.open(synchronous: .full)
        #expect(try await full.durabilityReport().warnings.isEmpty)
        await full.close()
    }

    @Test("a second backend on the same file is refused with a clear message")
    func oneProcessPerFile() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let backend = try scratch.open()
        #expect {
            _ = try scratch.open()
        } throws: { error in
            "\(error)".contains("in use by another switchboard process") && "\(error)".contains("pid")
        }
        await backend.close()
        let again = try scratch.open()
        await again.close()
    }

    @Test("a corrupt file is refused at start with a clear message")
    func corruption() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let backend = try scratch.open()
        for i in 0..<200 { _ = try await backend.enqueue([Fixture.task(id: "t\(i)", queue: "q")], now: Fixture.t0) }
        await backend.close()
        // Scribble over pages past the header (the tasks' b-tree).
        let handle = try #require(FileHandle(forWritingAtPath: scratch.path))
        let size = try handle.seekToEnd()
        #expect(size > 8192)
        try handle.seek(toOffset: 4096)
        handle.write(Data(repeating: 0xA5, count: Int(size) - 4096))
        try handle.close()
        #expect {
            _ = try scratch.open()
        } throws: { error in
            "\(error)".contains("is corrupt") && "\(error)".contains("backup")
        }
        // Not a database at all.
        try Data("hello, this is not SQLite".utf8).write(to: URL(fileURLWithPath: scratch.path))
        #expect {
            _ = try scratch.open()
        } throws: { error in
            "\(error)".contains("is corrupt")
        }
    }

    @Test("a backup taken while the backend serves opens with everything acknowledged before it")
    func backup() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let backend = try scratch.open()
        for i in 0..<50 { _ = try await backend.enqueue([Fixture.task(id: "t\(i)", queue: "q")], now: Fixture.t0) }
        let copy = scratch.directory + "/copy.sqlite"
        try SQLiteBackup.copy(databaseAt: scratch.path, to: copy)
        #expect(throws: (any Error).self, "an existing file is not overwritten") {
            try SQLiteBackup.copy(databaseAt: scratch.path, to: copy)
        }
        _ = try await backend.enqueue([Fixture.task(id: "after", queue: "q")], now: Fixture.t0)
        // The same from within the process that owns the file.
        let inProcess = scratch.directory + "/in-process.sqlite"
        try backend.backup(to: inProcess)
        let restored = try SQLiteTaskBackend(configuration: SQLiteConfiguration(path: copy))
        let ids = try await restored.list(TaskFilter(), page: PageRequest(limit: 1000)).items.map(\.id)
        #expect(ids.count == 50 && !ids.contains("after"))
        await restored.close()
        let second = try SQLiteTaskBackend(configuration: SQLiteConfiguration(path: inProcess))
        #expect(try await second.list(TaskFilter(), page: PageRequest(limit: 1000)).items.count == 51)
        await second.close()
        await backend.close()
    }

    @Test("an unfenced lease of a written task is answered before its own commit; a fenced one, or one whose task is not written yet, after")
    func earlyLeaseAnswers() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let backend = try scratch.open()
        let t0 = Fixture.t0
        _ = try await backend.enqueue([Fixture.task(id: "plain", queue: "q"), Fixture.task(id: "locked", queue: "locks", lockKey: "res")], now: t0)
        backend.commitLog.holdWriter(true)

        // Written when enqueued, no fencing token: answered while the writer is held.
        let early = try await backend.lease(queues: ["q"], maxTasks: 1, workerID: "w", terms: terms, now: t0)
        #expect(early.map(\.task.id) == ["plain"])

        // A fencing token is never handed out before it is in the file.
        let fenced = Task { try await backend.lease(queues: ["locks"], maxTasks: 1, workerID: "w", terms: terms, now: t0) }
        try await waitUntil { try await backend.task(id: "locked")?.status == .running }

        // Created in the batch the writer has not taken: its lease waits for that commit (else
        // a worker could run a task whose enqueue then fails).
        let enqueued = Task { try await backend.enqueue([Fixture.task(id: "fresh", queue: "q")], now: t0) }
        try await waitUntil { try await backend.task(id: "fresh") != nil }
        let unwritten = Task { try await backend.lease(queues: ["q"], maxTasks: 1, workerID: "w", terms: terms, now: t0) }
        try await waitUntil { try await backend.task(id: "fresh")?.status == .running }

        let answeredWhileHeld = Answered()
        Task { _ = try? await fenced.value; answeredWhileHeld.note("fenced") }
        Task { _ = try? await unwritten.value; answeredWhileHeld.note("unwritten") }
        // Both leases are made (the tasks run in memory) and wait for a commit that is held.
        for _ in 0..<100 { await Task.yield() }
        #expect(answeredWhileHeld.names.isEmpty, "answered before the commit: \(answeredWhileHeld.names)")

        backend.commitLog.holdWriter(false)
        #expect(try await fenced.value.first?.fencingToken != nil)
        #expect(try await unwritten.value.map(\.task.id) == ["fresh"])
        #expect(try await enqueued.value.first?.created == true)
        await backend.close()

        // Every lease above is in the file, the early one too (it went out with the next commit).
        let reopened = try scratch.open()
        for id in ["plain", "locked", "fresh"] { #expect(try await reopened.task(id: id)?.status == .running, "\(id)") }
        await reopened.close()
    }

    @Test("a commit that fails after an early lease answer loses that lease, not the task")
    func earlyLeaseThenFailedCommit() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let backend = try scratch.open(maxBytes: 96 * 1024)
        let t0 = Fixture.t0
        _ = try await backend.enqueue([Fixture.task(id: "plain", queue: "q")], now: t0)
        backend.commitLog.holdWriter(true)
        let early = try await backend.lease(queues: ["q"], maxTasks: 1, workerID: "w", terms: terms, now: t0)
        #expect(early.map(\.task.id) == ["plain"])
        // A large task in the same batch fills the file: the commit that would have held the lease fails.
        let filling = Task {
            try await backend.enqueue([Fixture.task(id: "big", queue: "other", payload: "\"" + String(repeating: "x", count: 200_000) + "\"")], now: t0)
        }
        try await waitUntil { try await backend.task(id: "big") != nil }
        backend.commitLog.holdWriter(false)
        await #expect(throws: SwitchboardError.self) { try await filling.value }
        // The state is the file's again: the task is queued with no worker, so it is leased
        // again (at-least-once); the early lease's receipt is unknown.
        let task = try #require(try await backend.task(id: "plain"))
        #expect(task.status == .pending && task.workerID == nil && task.attempts == 0, "\(task)")
        #expect(try await backend.task(id: "big") == nil)
        await backend.close()
    }

    private func waitUntil(_ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    @Test("many concurrent enqueues share commits and are all there after a reopen")
    func groupCommit() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let backend = try scratch.open(synchronous: .full)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for producer in 0..<16 {
                group.addTask {
                    for i in 0..<50 {
                        _ = try await backend.enqueue([Fixture.task(id: "p\(producer)-\(i)", queue: "q")], now: Fixture.t0)
                    }
                }
            }
            try await group.waitForAll()
        }
        await backend.close()
        let reopened = try scratch.open()
        #expect(try await reopened.queues().first?.depth[.pending] == 800)
        await reopened.close()
    }
}

@Suite("SQLite lock service", .timeLimit(.minutes(2)))
struct SQLiteLockServiceTests {
    @Test("the lock contract", arguments: LockConformance.checks)
    func conformance(_ check: LockConformanceCheck) async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        let backend = try scratch.open()
        try await check.run(on: try SQLiteLockService(backend: backend))
        await backend.close()
    }

    @Test("held locks and tokens survive a reopen; a release is kept too")
    func survivesReopen() async throws {
        let scratch = try ScratchDatabase()
        defer { scratch.remove() }
        var backend = try scratch.open()
        var locks = try SQLiteLockService(backend: backend)
        let held = try #require(try await locks.acquire(key: "a", holder: "h1", ttl: .seconds(60), wait: .zero))
        let released = try #require(try await locks.acquire(key: "b", holder: "h1", ttl: .seconds(60), wait: .zero))
        try await locks.release(key: "b", holder: "h1", token: released.token)
        await backend.close()

        backend = try scratch.open()
        locks = try SQLiteLockService(backend: backend)
        #expect(try await locks.lease(key: "a") == held)
        #expect(try await locks.acquire(key: "a", holder: "h2", ttl: .seconds(1), wait: .zero) == nil)
        let next = try #require(try await locks.acquire(key: "b", holder: "h2", ttl: .seconds(60), wait: .zero))
        #expect(next.token > released.token && next.token > held.token)
        await backend.close()
    }
}

/// Which of several calls have returned.
private final class Answered: Sendable {
    private let answered = Mutex<[String]>([])
    func note(_ name: String) { answered.withLock { $0.append(name) } }
    var names: [String] { answered.withLock { $0 } }
}
