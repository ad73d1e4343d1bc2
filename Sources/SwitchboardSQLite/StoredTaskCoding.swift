import SwitchboardAPI
import SwitchboardCore
import SwitchboardJSON

/// A task in two rows: its body — what never changes after the enqueue (id, queue, type, run,
/// priority, metadata, payload, limits, lock key, schedule, creation time) — written once, and its
/// state — what transitions change, with the memory backend's bookkeeping — written at every
/// transition. A lease or a completion rewrites a few hundred bytes, not the payload
/// (BENCHMARKS.md "SQLite"). Both are the API's task JSON, split by field; read back, the two
/// halves make one task object for the API's reader.
extension StoredMemoryTask {
    /// The fields that never change, as a JSON object.
    func encodeBody(into w: inout JSONWriter) {
        w.beginObject()
        w.key(TaskField.id.name); w.string(record.id)
        w.key(TaskField.queue.name); w.string(record.queue)
        w.key(TaskField.type.name); w.string(record.type)
        w.key(TaskField.runID.name); w.string(record.runID)
        w.key(TaskField.priority.name); w.int(record.priority)
        w.key(TaskField.metadata.name); w.stringMap(record.metadata)
        w.key(TaskField.payload.name); w.raw(record.payload)
        w.key(TaskField.maxRetries.name); w.int(record.maxRetries)
        w.key(TaskField.timeoutMS.name); w.int(record.timeoutMS)
        w.key(TaskField.lockKey.name); w.string(record.lockKey)
        w.key(TaskField.notBefore.name); w.timestamp(record.notBefore)
        w.key(TaskField.createdAt.name); w.timestamp(record.createdAt)
        w.endObject()
    }

    /// The fields transitions change (under `task`), and the bookkeeping.
    func encodeState(into w: inout JSONWriter) {
        w.beginObject()
        w.key("ready"); w.int(readySequence)
        w.key("ready_since"); w.int(readySince.milliseconds)
        if let dueAt { w.key("due"); w.int(dueAt.milliseconds) }
        if let leaseID { w.key("lease"); w.string(leaseID) }
        if cancelRequested { w.key("cancel"); w.bool(true) }
        if deadSequence != 0 { w.key("dead"); w.int(deadSequence) }
        w.key("task")
        w.beginObject()
        w.key(TaskField.status.name); w.string(record.status.rawValue)
        w.key(TaskField.attempts.name); w.int(record.attempts)
        w.key(TaskField.releases.name); w.int(record.releases)
        w.key(TaskField.updatedAt.name); w.timestamp(record.updatedAt)
        w.key(TaskField.startedAt.name); w.timestamp(record.startedAt)
        w.key(TaskField.finishedAt.name); w.timestamp(record.finishedAt)
        w.key(TaskField.workerID.name); w.string(record.workerID)
        w.key(TaskField.leaseExpiresAt.name); w.timestamp(record.leaseExpiresAt)
        w.key(TaskField.result.name); w.raw(record.result)
        w.key(TaskField.error.name); w.string(record.error)
        w.key(TaskField.errors.name)
        w.beginArray()
        for entry in record.errors { entry.write(to: &w) }
        w.endArray()
        w.endObject()
        w.endObject()
    }

    /// The task of row `sequence` from its two halves.
    init(sequence: UInt64, body: [UInt8], state: [UInt8]) throws {
        var reader = JSONPullReader(state)
        var taskState: RawJSON?
        var ready, readySince, due, dead: Int64?
        var lease: String?
        var cancel = false
        try reader.beginObject()
        while let key = try reader.nextKey() {
            if reader.key(key, is: "task") {
                taskState = try reader.raw()
            } else if reader.key(key, is: "ready") {
                ready = try reader.integer()
            } else if reader.key(key, is: "ready_since") {
                readySince = try reader.integer()
            } else if reader.key(key, is: "due") {
                due = try reader.integer()
            } else if reader.key(key, is: "lease") {
                lease = try reader.string()
            } else if reader.key(key, is: "cancel") {
                cancel = try reader.bool() ?? false
            } else if reader.key(key, is: "dead") {
                dead = try reader.integer()
            } else {
                try reader.skipValue()
            }
        }
        try reader.end()
        guard let taskState, let ready, let readySince, ready > 0 else {
            throw SwitchboardError.malformed("a task's state without its fields, place or ready time")
        }
        // `{body fields` + `,` + `state fields}`: one task object.
        let stateBytes = taskState.bytes
        guard body.count > 2, body.first == UInt8(ascii: "{"), body.last == UInt8(ascii: "}"),
            stateBytes.count > 2, stateBytes.first == UInt8(ascii: "{")
        else { throw SwitchboardError.malformed("a task's body or state is not an object") }
        var joined = [UInt8]()
        joined.reserveCapacity(body.count + stateBytes.count)
        joined.append(contentsOf: body.dropLast())
        joined.append(UInt8(ascii: ","))
        joined.append(contentsOf: stateBytes.dropFirst())
        self.init(
            record: try TaskRecord(json: joined), createdSequence: sequence, readySequence: UInt64(ready),
            readySince: Timestamp(milliseconds: readySince), dueAt: due.map(Timestamp.init(milliseconds:)), leaseID: lease,
            cancelRequested: cancel, deadSequence: dead.map { UInt64(max($0, 0)) } ?? 0)
    }
}
