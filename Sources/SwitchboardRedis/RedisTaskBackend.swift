import NIOCore
import SwitchboardCore
import SwitchboardJSON
import SwitchboardRESP
import Synchronization

/// Tasks in Redis, shared by every server that points at it (DESIGN.md §1, §5).
///
/// Each transition is one Lua script (`RedisTaskScripts`), so it is atomic on the server and no
/// crash of a Switchboard process leaves a task between states: a lease writes the lease id,
/// worker and expiry in the same step that takes the task off its queue. Policy stays in the
/// engine: where a transition needs a decision (a failure: retry or bury), the task is read,
/// the engine's `decide` runs here, and the script applies the verdict only if the lease it was
/// made for is still the live one — the inputs of the decision (attempts, retry limit) cannot
/// change while a lease is held, so the read and the write act as one step.
///
/// Scripts publish the names of queues that gain work on `<prefix>:ready`; `followReadyEvents`
/// subscribes so the engine wakes its waiting leasers without polling Redis.
public final class RedisTaskBackend: TaskBackend, DeadLetterAdministration, QueuePausing, FinishedTaskRetention, RunListing, ReadyEventSource, DurabilityReporting, ClockReference {
    public let client: RedisClient
    /// Prepended to every key, so several deployments can share one Redis.
    public let prefix: String
    private let errorHistoryLimit: Int
    private let random = Mutex(RandomBytes())
    private let leasedRecords = LeasedRecords()

    public init(client: RedisClient, prefix: String = "sb", errorHistoryLimit: Int = TaskLimits().maxErrorHistory) {
        self.client = client
        self.prefix = prefix
        self.errorHistoryLimit = errorHistoryLimit
    }

    // MARK: Enqueue and lease

    public func enqueue(_ tasks: [NewTask], now: Timestamp) async throws -> [EnqueueOutcome] {
        guard !tasks.isEmpty else { return [] }
        var arguments: [any RESPArgument] = [prefix, now.milliseconds, tasks.count]
        arguments.reserveCapacity(3 + tasks.count * 40)
        for task in tasks {
            let record = task.record
            let scheduled = record.status == .scheduled && (record.notBefore.map { $0 > now } ?? false)
            let fields = RedisTaskCoding.fields(of: record, scheduled: scheduled)
            arguments += [
                record.id, record.queue, Int(record.priority), scheduled ? "scheduled" : "pending",
                record.notBefore.map { String($0.milliseconds) } ?? "", task.idempotencyKey ?? "",
                task.idempotencyExpiresAt.map { String($0.milliseconds) } ?? "0", record.runID ?? "", task.idIsFresh ? 1 : 0,
                fields.count / 2,
            ]
            arguments += fields
        }
        let reply = try await run(RedisTaskScripts.enqueue, "enqueue", arguments)
        guard let outcomes = reply.array, outcomes.count == tasks.count else { throw RedisTaskBackendError.unexpectedReply("enqueue") }
        return try zip(tasks, outcomes).map { task, outcome in
            guard let parts = outcome.array, let created = parts.first?.int else { throw RedisTaskBackendError.unexpectedReply("enqueue") }
            if created == 1 {
                var record = task.record
                let scheduled = record.status == .scheduled && (record.notBefore.map { $0 > now } ?? false)
                record.status = scheduled ? .scheduled : .pending
                record.updatedAt = now
                return EnqueueOutcome(task: record, created: true)
            }
            guard parts.count == 2 else { throw RedisTaskBackendError.unexpectedReply("enqueue") }
            return EnqueueOutcome(task: try RedisTaskCoding.record(parts[1]).record, created: false)
        }
    }

    public func lease(queues: [String], maxTasks: Int, workerID: String, terms: LeaseTerms, now: Timestamp) async throws -> [TaskLease] {
        guard maxTasks > 0, !queues.isEmpty else { return [] }
        var arguments: [any RESPArgument] = [
            prefix, now.milliseconds, workerID, maxTasks, terms.duration.map(\.wholeMilliseconds) ?? -1, terms.grace.wholeMilliseconds,
            queues.count,
        ]
        arguments += queues as [any RESPArgument]
        random.withLock { random in
            for _ in 0..<maxTasks { arguments.append(random.hex128()) }
        }
        let reply = try await run(RedisTaskScripts.lease, "lease", arguments)
        guard let leased = reply.array else { throw RedisTaskBackendError.unexpectedReply("lease") }
        let leases = try leased.map { item in
            guard let parts = item.array, parts.count == 4, let leaseID = parts[0].string, let expiry = parts[1].int,
                let token = parts[3].int
            else {
                throw RedisTaskBackendError.unexpectedReply("lease")
            }
            var (record, readySince) = try RedisTaskCoding.record(parts[2])
            // The fields are from just before the lease; apply it as the script did.
            record.status = .running
            record.attempts += 1
            record.startedAt = now
            record.workerID = workerID
            record.leaseExpiresAt = Timestamp(milliseconds: expiry)
            record.updatedAt = now
            return TaskLease(
                leaseID: leaseID, expiresAt: Timestamp(milliseconds: expiry), task: record, readySince: readySince,
                fencingToken: token > 0 ? UInt64(token) : nil)
        }
        leasedRecords.remember(leases)
        return leases
    }

    // MARK: Lease holders

    public func heartbeat(leaseID: String, extension terms: LeaseTerms, now: Timestamp) async throws -> HeartbeatStatus {
        let (secret, taskID) = try Self.parse(leaseID)
        let parts = try await leaseScript(
            RedisTaskScripts.heartbeat, "heartbeat", leaseID: leaseID,
            [prefix, secret, taskID, now.milliseconds, terms.duration.map(\.wholeMilliseconds) ?? -1, terms.grace.wholeMilliseconds])
        guard parts.count == 3, let expiry = parts[1].int, let cancel = parts[2].int else {
            throw RedisTaskBackendError.unexpectedReply("heartbeat")
        }
        return HeartbeatStatus(expiresAt: Timestamp(milliseconds: expiry), cancelRequested: cancel == 1)
    }

    /// Straight to the script, in calls of at most `completionBatch`.
    public func complete(batch: [LeaseCompletion], now: Timestamp) async throws -> [Result<TaskRecord, any Error>] {
        var results = [Result<TaskRecord, any Error>?](repeating: nil, count: batch.count)
        var parsed: [(position: Int, completion: Completion)] = []
        parsed.reserveCapacity(batch.count)
        for (position, completion) in batch.enumerated() {
            do {
                let (secret, taskID) = try Self.parse(completion.leaseID)
                parsed.append(
                    (position, Completion(
                        leaseID: completion.leaseID, secret: secret, taskID: taskID, result: completion.result, now: now,
                        leased: leasedRecords.take(completion.leaseID))))
            } catch {
                results[position] = .failure(error)
            }
        }
        for start in stride(from: 0, to: parsed.count, by: Self.completionBatch) {
            let chunk = parsed[start..<min(start + Self.completionBatch, parsed.count)]
            do {
                let answers = try await completeBatch(chunk.map(\.completion))
                for (entry, answer) in zip(chunk, answers) { results[entry.position] = answer }
            } catch where start > 0 {
                // Earlier calls went through: only this one's completions failed.
                for entry in chunk { results[entry.position] = .failure(error) }
            }
        }
        return results.map { $0! }
    }

    /// Completions per script call: large enough to share a round trip widely, small enough
    /// that one call does not hold Redis for long.
    static let completionBatch = 256

    struct Completion: Sendable {
        var leaseID: String
        var secret: String
        var taskID: String
        var result: RawJSON?
        var now: Timestamp
        /// The task as this process leased it, if it did.
        var leased: TaskRecord?

        /// The task once completed, built from the leased one: a completion changes only these.
        func completedTask() -> TaskRecord? {
            guard var task = leased else { return nil }
            task.status = .completed
            task.result = result
            task.updatedAt = now
            task.finishedAt = now
            task.leaseExpiresAt = nil
            return task
        }
    }

    /// One script call for a chunk of the batch.
    private func completeBatch(_ batch: [Completion]) async throws -> [Result<TaskRecord, any Error>] {
        var arguments: [any RESPArgument] = [prefix]
        arguments.reserveCapacity(1 + batch.count * 6)
        for c in batch {
            arguments += [
                c.secret, c.taskID, c.now.milliseconds, c.result == nil ? 0 : 1, c.result?.bytes ?? [], c.leased == nil ? 1 : 0,
            ]
        }
        let reply = try await run(RedisTaskScripts.complete, "complete", arguments)
        guard let items = reply.array, items.count == batch.count else { throw RedisTaskBackendError.unexpectedReply("complete") }
        return zip(batch, items).map { completion, item in
            Result {
                guard let parts = item.array, let code = parts.first?.string else { throw RedisTaskBackendError.unexpectedReply("complete") }
                switch code {
                case "ok":
                    if let task = completion.completedTask() { return task }
                    return try Self.recordReply(parts, "complete")
                case "notfound": throw SwitchboardError.notFound("no lease \(completion.leaseID)")
                default: throw Self.staleLease(completion.leaseID)
                }
            }
        }
    }

    public func fail(
        leaseID: String, message: String, now: Timestamp, decide: @Sendable (TaskRecord) -> FailureDecision
    ) async throws -> TaskRecord {
        let (secret, taskID) = try Self.parse(leaseID)
        _ = leasedRecords.take(leaseID)
        guard var task = try await task(id: taskID) else { throw SwitchboardError.notFound("no lease \(leaseID)") }
        guard task.status == .running else { throw Self.staleLease(leaseID) }
        // What the script will record, so the decision sees the failure as the memory backend shows it.
        task.error = message
        task.errors.append(TaskErrorEntry(attempt: task.attempts, at: now, message: message, workerID: task.workerID, startedAt: task.startedAt))
        let decision = decide(task)
        let parts = try await leaseScript(
            RedisTaskScripts.fail, "fail", leaseID: leaseID,
            [prefix, secret, taskID, now.milliseconds, message] + Self.arguments(decision) + [errorHistoryLimit])
        return try Self.recordReply(parts, "fail")
    }

    /// The script counts the release and gives the task back, or, past the limit, answers
    /// `toomany` and leaves the lease live: then the release is a failure, through `fail`.
    public func release(
        leaseID: String, now: Timestamp, maxReleases: Int, decide: @Sendable (TaskRecord) -> FailureDecision
    ) async throws -> TaskRecord {
        let (secret, taskID) = try Self.parse(leaseID)
        _ = leasedRecords.take(leaseID)
        let parts = try await leaseScript(
            RedisTaskScripts.release, "release", leaseID: leaseID, [prefix, secret, taskID, now.milliseconds, maxReleases])
        if parts.first?.string == "toomany" {
            return try await fail(leaseID: leaseID, message: tooManyReleasesMessage(maxReleases), now: now, decide: decide)
        }
        return try Self.recordReply(parts, "release")
    }

    // MARK: Control and inspection

    public func cancel(id: String, now: Timestamp) async throws -> TaskRecord {
        let reply = try await run(RedisTaskScripts.cancel, "cancel", [prefix, id, now.milliseconds])
        guard let parts = reply.array, let code = parts.first?.string else { throw RedisTaskBackendError.unexpectedReply("cancel") }
        switch code {
        case "notfound": throw SwitchboardError.notFound("no task \(id)")
        case "conflict":
            let status = parts.count > 1 ? parts[1].string ?? "finished" : "finished"
            throw SwitchboardError.conflict("task \(id) is already \(status) and cannot be cancelled")
        default: return try Self.recordReply(parts, "cancel")
        }
    }

    public func task(id: String) async throws -> TaskRecord? {
        let reply = try await call { try await client.send(RESPCommand("HGETALL", taskKey(id))) }
        if reply.array?.isEmpty ?? false { return nil }
        if case .map(let keys, let values) = reply {
            guard !keys.isEmpty else { return nil }
            return try RedisTaskCoding.record(.array(zip(keys, values).flatMap { [$0, $1] })).record
        }
        return try RedisTaskCoding.record(reply).record
    }

    public func list(_ filter: TaskFilter, page: PageRequest) async throws -> Page<TaskRecord> {
        let cursor = try RedisCursor.parse(page.cursor)
        let limit = min(max(page.limit, 1), PageRequest.maxLimit)
        let index: String =
            if filter.status == .dead { "\(prefix):dead" }
            else if let run = filter.runID { "\(prefix):run:\(run)" }
            else if let queue = filter.queue { queueKey(queue, "created") }
            else { "\(prefix):created" }
        let reply = try await run(RedisTaskScripts.list, "list", [
            prefix, index, cursor ?? "-inf", limit, filter.queue ?? "", filter.status?.rawValue ?? "", filter.type ?? "",
            filter.runID ?? "", filter.toolName ?? "", Self.metadataFilter(filter.metadata),
        ])
        guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let items = parts[1].array else {
            throw RedisTaskBackendError.unexpectedReply("list")
        }
        return Page(items: try items.map { try RedisTaskCoding.record($0).record }, nextCursor: next.isEmpty ? nil : RedisCursor.make(next))
    }

    /// Runs newest first: a cursor is the sequence of the last run returned (exclusive).
    public func runs(page: PageRequest) async throws -> Page<String> {
        let cursor = try RedisCursor.parse(page.cursor).map { "(\($0)" } ?? "+inf"
        let limit = min(max(page.limit, 1), PageRequest.maxLimit)
        let reply = try await call {
            try await client.send(RESPCommand("ZREVRANGEBYSCORE", "\(prefix):runs", cursor, "-inf", "WITHSCORES", "LIMIT", "0", String(limit + 1)))
        }
        guard let flat = reply.array else { throw RedisTaskBackendError.unexpectedReply("runs") }
        // RESP3 answers [member, score] pairs, RESP2 one flat list.
        let pairs: [[RESPValue]] = flat.allSatisfy({ $0.array != nil }) ? flat.compactMap(\.array)
            : stride(from: 0, to: flat.count - 1, by: 2).map { [flat[$0], flat[$0 + 1]] }
        var runs: [String] = []
        var scores: [String] = []
        for pair in pairs {
            guard pair.count == 2, let run = pair[0].string, let score = Self.wholeScore(pair[1]) else {
                throw RedisTaskBackendError.unexpectedReply("runs")
            }
            runs.append(run)
            scores.append(score)
        }
        guard runs.count > limit else { return Page(items: runs, nextCursor: nil) }
        return Page(items: Array(runs.prefix(limit)), nextCursor: RedisCursor.make(scores[limit - 1]))
    }

    private static func wholeScore(_ value: RESPValue) -> String? {
        if case .double(let d) = value { return UInt64(exactly: d).map(String.init) }
        return value.string.flatMap { Double($0) }.flatMap { UInt64(exactly: $0) }.map(String.init)
    }

    /// The metadata a listing must match, as the JSON object the list script decodes ('' for none).
    static func metadataFilter(_ metadata: [String: String]) -> String {
        guard !metadata.isEmpty else { return "" }
        var w = JSONWriter(capacity: 64)
        w.stringMap(metadata)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    public func requeueDead(id: String, now: Timestamp) async throws -> TaskRecord {
        let reply = try await run(RedisTaskScripts.requeueDead, "requeue", [prefix, id, now.milliseconds])
        guard let parts = reply.array, let code = parts.first?.string else { throw RedisTaskBackendError.unexpectedReply("requeue") }
        guard code == "ok" else { throw SwitchboardError.notFound("no task \(id) in the dead-letter queue") }
        return try Self.recordReply(parts, "requeue")
    }

    public func requeueDead(matching filter: TaskFilter, now: Timestamp) async throws -> Int {
        try await sweepDead("requeue", filter, now: now)
    }

    public func deleteDead(id: String) async throws {
        let reply = try await run(RedisTaskScripts.deleteDead, "delete", [prefix, id])
        guard reply.int == 1 else { throw SwitchboardError.notFound("no task \(id) in the dead-letter queue") }
    }

    public func purgeDead(matching filter: TaskFilter) async throws -> Int {
        try await sweepDead("delete", filter, now: Timestamp(milliseconds: 0))
    }

    /// Requeues or deletes matching dead tasks in bounded script calls, so a large DLQ never
    /// blocks Redis for long.
    private func sweepDead(_ action: String, _ filter: TaskFilter, now: Timestamp) async throws -> Int {
        var total = 0
        var cursor = "-inf"
        while true {
            let reply = try await run(RedisTaskScripts.sweepDead, "sweep", [
                prefix, now.milliseconds, action, filter.queue ?? "", filter.type ?? "", cursor,
            ])
            guard let parts = reply.array, parts.count == 2, let handled = parts[0].int, let next = parts[1].string else {
                throw RedisTaskBackendError.unexpectedReply("sweep")
            }
            total += Int(handled)
            if next.isEmpty { return total }
            cursor = next
        }
    }

    public func queues() async throws -> [QueueInfo] {
        let reply = try await run(RedisTaskScripts.queues, "queues", [prefix])
        guard let items = reply.array else { throw RedisTaskBackendError.unexpectedReply("queues") }
        return try items.map { item in
            guard let parts = item.array, parts.count == 4, let name = parts[0].string, let paused = parts[1].int else {
                throw RedisTaskBackendError.unexpectedReply("queues")
            }
            let oldest = parts[3].string.flatMap { Int64($0) }.map { Timestamp(milliseconds: $0) }
            return QueueInfo(name: name, paused: paused == 1, depth: try Self.depth(parts[2]), oldestPendingSince: oldest)
        }.sorted { $0.name < $1.name }
    }

    public func setPaused(_ paused: Bool, queue: String) async throws -> QueueInfo {
        let reply = try await run(RedisTaskScripts.setPaused, "pause", [prefix, queue, paused ? 1 : 0])
        return QueueInfo(name: queue, paused: paused, depth: try Self.depth(reply))
    }

    // MARK: Maintenance

    public func reapExpiredLeases(
        now: Timestamp, limit: Int, decide: @Sendable (TaskRecord) -> FailureDecision
    ) async throws -> [TaskRecord] {
        guard limit > 0 else { return [] }
        let reply = try await run(RedisTaskScripts.expired, "expired", [prefix, now.milliseconds, limit])
        guard let expired = reply.array else { throw RedisTaskBackendError.unexpectedReply("expired") }
        guard !expired.isEmpty else { return [] }
        var arguments: [any RESPArgument] = [prefix, now.milliseconds, errorHistoryLimit]
        for item in expired {
            guard case .array(let fields) = item, !fields.isEmpty else { continue }
            var (task, _) = try RedisTaskCoding.record(item)
            guard let secret = Self.field("lid", in: fields) else { continue }
            let message = "lease expired: worker \(task.workerID ?? "unknown") stopped heartbeating"
            task.error = message
            task.errors.append(TaskErrorEntry(attempt: task.attempts, at: now, message: message, workerID: task.workerID, startedAt: task.startedAt))
            arguments += [task.id, secret] + Self.arguments(decide(task))
        }
        let applied = try await run(RedisTaskScripts.reap, "reap", arguments)
        guard let records = applied.array else { throw RedisTaskBackendError.unexpectedReply("reap") }
        return try records.map { try RedisTaskCoding.record($0).record }
    }

    public func promoteDue(now: Timestamp) async throws -> Set<String> {
        let reply = try await run(RedisTaskScripts.promoteDue, "promote", [prefix, now.milliseconds])
        return Set(reply.array?.compactMap(\.string) ?? [])
    }

    public func nextDeadline(queues: [String]?) async throws -> Timestamp? {
        if let queues, queues.isEmpty { return nil }
        let reply = try await run(RedisTaskScripts.nextDeadline, "deadline", [prefix] + (queues ?? []) as [any RESPArgument])
        return reply.int.map { Timestamp(milliseconds: $0) }
    }

    public func trim(finishedBefore: Timestamp, keepAtMost: Int, now: Timestamp) async throws -> Int {
        var dropped = 0
        while true {
            let reply = try await run(RedisTaskScripts.trim, "trim", [prefix, finishedBefore.milliseconds, keepAtMost])
            guard let parts = reply.array, parts.count == 2, let count = parts[0].int, let more = parts[1].int else {
                throw RedisTaskBackendError.unexpectedReply("trim")
            }
            dropped += Int(count)
            if more == 0 { return dropped }
        }
    }

    public func ping() async throws {
        _ = try await call { try await client.send(RESPCommand("PING")) }
    }

    /// Redis's clock (`TIME`): the one every server sharing this Redis is compared with.
    public func referenceTime() async throws -> Timestamp {
        let reply = try await call { try await client.send(RESPCommand("TIME")) }
        guard let parts = reply.array, parts.count == 2, let seconds = parts[0].string.flatMap({ Int64($0) }),
            let micros = parts[1].string.flatMap({ Int64($0) })
        else { throw RedisTaskBackendError.unexpectedReply("TIME") }
        return Timestamp(milliseconds: seconds * 1000 + micros / 1000)
    }

    /// Redis's persistence and eviction settings, as `CONFIG GET` shows them (managed Redis
    /// services often refuse `CONFIG`: then they are reported unknown, with a warning to check).
    /// An evicting `maxmemory-policy` can drop a task's hash or a lease's entry and strand the
    /// task; without the append-only file a Redis restart loses what came after the last snapshot.
    public func durabilityReport() async throws -> DurabilityReport {
        let names = ["appendonly", "appendfsync", "maxmemory-policy"]
        let replies = try await call { try await client.pipeline(names.map { RESPCommand("CONFIG", "GET", $0) }) }
        var settings: [String: String] = [:]
        for (name, reply) in zip(names, replies) {
            // RESP2 answers [name, value]; RESP3 a map {name: value}.
            if case .map(_, let values) = reply, let value = values.first?.string {
                settings[name] = value
            } else if let values = reply.array, values.count == 2, let value = values[1].string {
                settings[name] = value
            }
        }
        var warnings: [String] = []
        if settings.isEmpty {
            warnings.append("Redis refused CONFIG GET: check by hand that appendonly is yes and maxmemory-policy is noeviction")
        } else {
            if let policy = settings["maxmemory-policy"], policy != "noeviction" {
                warnings.append(
                    "maxmemory-policy is \(policy): under memory pressure Redis may evict task data and strand tasks; set it to noeviction")
            }
            if settings["appendonly"] != "yes" {
                warnings.append("appendonly is not yes: a Redis restart loses the tasks since its last snapshot; enable the append-only file")
            } else if settings["appendfsync"] == "no" {
                warnings.append("appendfsync is no: a crash of the Redis host may lose recent tasks; everysec loses at most a second, always none")
            }
        }
        let survives = settings["appendonly"] == "yes" && settings["maxmemory-policy"] == "noeviction"
        return DurabilityReport(survivesRestart: survives, settings: settings, warnings: warnings)
    }

    // MARK: Ready events

    public func followReadyEvents(_ handle: @escaping @Sendable (ReadyEvent) -> Void) async throws {
        let channel = "\(prefix):ready"
        try await client.withDedicatedConnection(onPush: { push in
            // ["message", channel, queue]; subscription confirmations are ignored.
            guard let parts = push.array, parts.count == 3, parts[0].string == "message", let queue = parts[2].string else { return }
            handle(.queue(queue))
        }) { connection in
            try await connection.subscribe([channel])
            handle(.connected)
            await withTaskCancellationHandler {
                await connection.waitUntilClosed()
            } onCancel: {
                connection.channel.close(promise: nil)
            }
        }
        if !Task.isCancelled { throw RESPConnectionError.closed }
    }

    // MARK: Helpers

    func taskKey(_ id: String) -> String { "\(prefix):task:\(id)" }
    func queueKey(_ queue: String, _ part: String) -> String { "\(prefix):{\(queue)}:\(part)" }

    private func run(_ script: RedisScript, _ name: String, _ arguments: [any RESPArgument]) async throws -> RESPValue {
        try await call { try await client.run(script, keys: [], arguments: arguments) }
    }

    /// Runs a script that starts by checking a lease; its `notfound`/`conflict` become errors.
    private func leaseScript(
        _ script: RedisScript, _ name: String, leaseID: String, _ arguments: [any RESPArgument]
    ) async throws -> [RESPValue] {
        let reply = try await run(script, name, arguments)
        guard let parts = reply.array, let code = parts.first?.string else { throw RedisTaskBackendError.unexpectedReply(name) }
        switch code {
        case "ok", "toomany": return parts
        case "notfound": throw SwitchboardError.notFound("no lease \(leaseID)")
        default: throw Self.staleLease(leaseID)
        }
    }

    private static func staleLease(_ leaseID: String) -> SwitchboardError {
        .conflict("lease \(leaseID) is no longer held: the task was re-leased, finished or its lease expired")
    }

    /// Lease ids are 32 random hex digits (the secret the task stores) and the task id, as in
    /// the memory backend.
    static func parse(_ leaseID: String) throws(SwitchboardError) -> (secret: String, taskID: String) {
        let utf8 = leaseID.utf8
        guard utf8.count > 32 else { throw .notFound("no lease \(leaseID)") }
        let split = utf8.index(utf8.startIndex, offsetBy: 32)
        return (String(leaseID[..<split]), String(leaseID[split...]))
    }

    private static func recordReply(_ parts: [RESPValue], _ name: String) throws -> TaskRecord {
        guard parts.count == 2 else { throw RedisTaskBackendError.unexpectedReply(name) }
        return try RedisTaskCoding.record(parts[1]).record
    }

    private static func arguments(_ decision: FailureDecision) -> [any RESPArgument] {
        switch decision {
        case .retry(let at): ["retry", at.milliseconds]
        case .bury: ["bury", 0]
        }
    }

    private static func field(_ name: String, in fields: [RESPValue]) -> String? {
        stride(from: 0, to: fields.count - 1, by: 2).first { fields[$0].string == name }.flatMap { fields[$0 + 1].string }
    }

    private static func depth(_ reply: RESPValue) throws -> [TaskStatus: Int] {
        var depth = Dictionary(uniqueKeysWithValues: TaskStatus.allCases.map { ($0, 0) })
        let flat: [RESPValue]
        switch reply {
        case .map(let keys, let values): flat = zip(keys, values).flatMap { [$0, $1] }
        default:
            guard let values = reply.array else { throw RedisTaskBackendError.unexpectedReply("counts") }
            flat = values
        }
        for index in stride(from: 0, to: flat.count - 1, by: 2) {
            if let name = flat[index].string, let status = TaskStatus(rawValue: name), let count = flat[index + 1].int {
                depth[status] = Int(count)
            }
        }
        return depth
    }
}

/// Cursors are creation (or burial) sequences with a prefix, so a made-up one fails loudly.
enum RedisCursor {
    static func make(_ sequence: String) -> String { "c\(sequence)" }

    static func parse(_ cursor: String?) throws(SwitchboardError) -> String? {
        guard let cursor else { return nil }
        guard cursor.first == "c", let value = UInt64(cursor.dropFirst()) else {
            throw .invalid("cursor '\(cursor)' is not one this server returned")
        }
        return String(value)
    }
}
