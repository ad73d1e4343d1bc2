import SwitchboardCore
import SwitchboardJSON

// A task's transitions as pure changes to its stored form — the same rules as the memory
// backend's `MemoryBackendState`, applied to a copy that is then written by compare-and-set.
extension NATSStoredTask {
    private mutating func set(_ status: TaskStatus, now: Timestamp) {
        record.status = status
        record.updatedAt = now
    }

    mutating func lease(leaseID: String, workerID: String, terms: LeaseTerms, now: Timestamp) {
        self.leaseID = leaseID
        record.attempts += 1
        record.startedAt = now
        record.workerID = workerID
        record.leaseExpiresAt = now + terms.duration(for: record)
        set(.running, now: now)
    }

    mutating func extend(_ terms: LeaseTerms, now: Timestamp) {
        record.leaseExpiresAt = now + terms.duration(for: record)
        record.updatedAt = now
    }

    private mutating func endLease() {
        leaseID = nil
        record.leaseExpiresAt = nil
    }

    private mutating func finish(_ status: TaskStatus, now: Timestamp) {
        record.finishedAt = now
        dueAt = nil
        set(status, now: now)
    }

    mutating func complete(result: RawJSON?, now: Timestamp) {
        endLease()
        record.result = result
        finish(.completed, now: now)
    }

    /// A failed attempt (a worker's report, an expired lease, a release past the limit).
    mutating func fail(message: String, now: Timestamp, historyLimit: Int, decide: (TaskRecord) -> FailureDecision) {
        record.error = message
        record.errors.append(
            TaskErrorEntry(attempt: record.attempts, at: now, message: message, workerID: record.workerID, startedAt: record.startedAt))
        if record.errors.count > historyLimit { record.errors.removeFirst(record.errors.count - historyLimit) }
        endLease()
        if cancelRequested {
            finish(.cancelled, now: now)
            return
        }
        switch decide(record) {
        case .retry(let at):
            dueAt = max(at, now)
            set(.retrying, now: now)
        case .bury:
            finish(.dead, now: now)
        }
    }

    mutating func release(now: Timestamp, maxReleases: Int, historyLimit: Int, decide: (TaskRecord) -> FailureDecision) {
        if !cancelRequested {
            record.releases += 1
            if record.releases > maxReleases {
                fail(message: tooManyReleasesMessage(maxReleases), now: now, historyLimit: historyLimit, decide: decide)
                return
            }
        }
        endLease()
        if cancelRequested {
            finish(.cancelled, now: now)
        } else {
            // Back in its old place: `readyOrder` is kept.
            record.attempts -= 1
            record.workerID = nil
            readySince = now
            set(.pending, now: now)
        }
    }

    /// Due: ready at the back of its priority (a nil order is the promoting write's sequence).
    mutating func promote(now: Timestamp) {
        readySince = dueAt ?? now
        readyOrder = nil
        dueAt = nil
        set(.pending, now: now)
    }

    mutating func requeue(now: Timestamp) {
        record.attempts = 0
        record.releases = 0
        record.finishedAt = nil
        record.workerID = nil
        cancelRequested = false
        readyOrder = nil
        readySince = now
        dueAt = nil
        set(.pending, now: now)
    }

    mutating func cancel(now: Timestamp) {
        finish(.cancelled, now: now)
    }
}
