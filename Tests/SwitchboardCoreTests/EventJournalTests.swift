import SwitchboardCore
import SwitchboardJSON
import SwitchboardTesting
import Testing

@Suite("Event journal")
struct EventJournalTests {
    func event(_ queue: String) -> EngineEvent { EngineEvent(kind: .queuePaused, at: Fixture.t0, queue: queue) }

    @Test("keeps the newest events, numbered; a reader behind the ring learns it missed some")
    func ring() {
        let journal = EventJournal(capacity: 3, epoch: "e")
        #expect(journal.read(after: nil).head == 0)
        journal.append((1...5).map { event("q\($0)") })
        let behind = journal.read(after: 1)
        #expect(behind.missed && behind.events.isEmpty && behind.through == 5, "reload, then follow from the newest")
        let current = journal.read(after: 2)
        #expect(!current.missed && current.events.map(\.id) == [3, 4, 5], "the reader saw 2, and 3 is the oldest kept")
        #expect(current.events.map(\.event.queue) == ["q3", "q4", "q5"] && current.through == 5)
        #expect(journal.read(after: 4).events.map(\.id) == [5])
        #expect(journal.read(after: 5).events.isEmpty && !journal.read(after: 5).missed)
        #expect(journal.read(after: 9).missed, "an id from the future is an earlier run's")
        #expect(journal.read(after: 2, limit: 2).events.map(\.id) == [3, 4])
        #expect(journal.read(after: 2, limit: 2).through == 4)
        let fromNow = journal.read(after: nil)
        #expect(fromNow.events.isEmpty && fromNow.head == 5)
    }

    @Test("a waiting reader is woken by the next event, and by cancellation")
    func waiting() async {
        let journal = EventJournal(capacity: 10, epoch: "e")
        journal.append(event("a"))
        await journal.wait(after: 0)  // already there: returns at once
        let waiter = Task { await journal.wait(after: 1) }
        while journal.waiterCount == 0 { await Task.yield() }
        journal.append(event("b"))
        await waiter.value
        let cancelled = Task { await journal.wait(after: 2) }
        cancelled.cancel()
        await cancelled.value
    }

    @Test("records only while someone reads, and a reader from before a silence learns it missed events")
    func recordsWhileRead() {
        let journal = EventJournal(capacity: 100, epoch: "e")
        let t0 = Timestamp(milliseconds: 1_000_000)
        let grace = EventJournal.readerGrace.wholeMilliseconds
        #expect(!journal.isRecording(at: t0), "nobody ever read")
        journal.noteRead(at: t0)
        #expect(journal.read(after: nil).head == 0, "no marker before anything was recorded")
        #expect(journal.isRecording(at: Timestamp(milliseconds: t0.milliseconds + grace)))
        journal.append(event("a"))
        let seen = journal.read(after: 0).through
        #expect(seen == 1)
        let later = Timestamp(milliseconds: t0.milliseconds + grace + 1)
        #expect(!journal.isRecording(at: later), "the reader left long ago")

        // A stream opens: recording again, behind a gap marker.
        journal.readerArrived(at: later)
        #expect(journal.isRecording(at: Timestamp(milliseconds: later.milliseconds + 10 * grace)), "while a stream is open")
        let resumed = journal.read(after: seen)
        #expect(resumed.missed && resumed.through == 2, "what happened in the silence is lost: reload")
        journal.append(event("b"))
        #expect(journal.read(after: 2).events.map(\.event.queue) == ["b"], "a reader past the gap follows")
        journal.readerLeft(at: later)
        #expect(journal.isRecording(at: Timestamp(milliseconds: later.milliseconds + grace)))
        #expect(!journal.isRecording(at: Timestamp(milliseconds: later.milliseconds + grace + 1)))
    }

    @Test("with no room, nothing is kept")
    func disabled() {
        let journal = EventJournal(capacity: 0, epoch: "e")
        journal.append(event("a"))
        #expect(!journal.isEnabled && journal.read(after: nil).head == 0)
    }
}

@Suite("Engine events")
struct EngineEventTests {
    @Test("the engine records each transition while someone reads, and nothing before")
    func transitions() async throws {
        let h = EngineHarness()
        let engine = h.engine
        _ = try await engine.enqueue(TaskSubmission(queue: "q", type: "job", payload: .null))
        #expect(engine.events.read(after: nil).head == 0, "nobody reads: nothing recorded")

        engine.events.readerArrived(at: h.clock.now())
        let start = engine.events.read(after: nil).through
        let task = try await engine.enqueue(TaskSubmission(queue: "q", type: "job", runID: "r", payload: .null)).task
        _ = try await engine.enqueue(TaskSubmission(queue: "q", type: "job", payload: .null, delayMS: 5000))
        let leases = try await engine.lease(LeaseRequest(workerID: "w", queues: ["q"], maxTasks: 2, leaseDuration: .seconds(1)))
        #expect(leases.count == 2)
        _ = try await engine.complete(leaseID: leases[0].leaseID, result: nil)
        h.clock.advance(by: .seconds(6))
        _ = try await engine.performMaintenance()  // the other lease expires; the scheduled task comes due
        _ = try await engine.pause(queue: "q")
        _ = try await engine.cancel(id: task.id)

        let reading = engine.events.read(after: start)
        let kinds = reading.events.map(\.event.kind)
        #expect(kinds == [.taskCreated, .taskCreated, .taskUpdated, .taskUpdated, .taskUpdated, .queueReady, .leaseExpired, .queuePaused, .taskUpdated])
        #expect(reading.events[2].event.task?.status == .running && reading.events[2].event.task?.workerID == "w")
        #expect(reading.events[4].event.task?.status == .completed)
        #expect(reading.events[6].event.task?.status == .retrying)
        #expect(reading.events[0].event.task?.runID == "r" && reading.events[0].event.queue == "q")
        #expect(reading.events.last?.event.task?.status == .cancelled)
    }
}

@Suite("Waiting for a task to finish")
struct FinishWaitTests {
    @Test("a finish here ends the wait at once; without one the wait ends at its timeout with the task as it is")
    func waits() async throws {
        let h = EngineHarness()
        let engine = h.engine
        let task = try await engine.enqueue(TaskSubmission(queue: "q", type: "job", payload: .null)).task
        let waiting = Task { try await engine.waitUntilFinished(id: task.id, timeout: .seconds(600)) }
        let lease = try #require(try await engine.lease(LeaseRequest(workerID: "w", queues: ["q"])).first)
        _ = try await engine.complete(leaseID: lease.leaseID, result: .emptyObject)
        let finished = try await waiting.value
        #expect(finished.status == .completed && finished.result == .emptyObject)
        // Already finished: at once.
        #expect(try await engine.waitUntilFinished(id: task.id, timeout: .seconds(600)).status == .completed)

        let other = try await engine.enqueue(TaskSubmission(queue: "q", type: "job", payload: .null)).task
        let timingOut = Task { try await engine.waitUntilFinished(id: other.id, timeout: .seconds(5)) }
        while h.clock.sleeperCount == 0 { await Task.yield() }
        h.clock.advance(by: .seconds(5))
        #expect(try await timingOut.value.status == .pending)
        await #expect(throws: SwitchboardError.self) { try await engine.waitUntilFinished(id: "nope", timeout: .seconds(1)) }
    }
}
