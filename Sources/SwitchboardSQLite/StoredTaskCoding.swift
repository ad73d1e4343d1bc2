import SwitchboardAPI
import SwitchboardCore
import SwitchboardJSON

/// A task's row body: the task's JSON as the API writes it, inside an envelope of the memory
/// backend's bookkeeping (`StoredMemoryTask`), so a restart rebuilds every index from rows alone.
extension StoredMemoryTask {
    func encoded() -> [UInt8] {
        var w = JSONWriter(capacity: 640 + record.payload.bytes.count + (record.result?.bytes.count ?? 0))
        encode(into: &w)
        return w.bytes
    }

    func encode(into w: inout JSONWriter) {
        w.beginObject()
        w.key("created"); w.int(createdSequence)
        w.key("ready"); w.int(readySequence)
        w.key("ready_since"); w.int(readySince.milliseconds)
        if let dueAt { w.key("due"); w.int(dueAt.milliseconds) }
        if let leaseID { w.key("lease"); w.string(leaseID) }
        if cancelRequested { w.key("cancel"); w.bool(true) }
        if deadSequence != 0 { w.key("dead"); w.int(deadSequence) }
        w.key("task")
        record.write(to: &w)
        w.endObject()
    }

    init(decoding bytes: [UInt8]) throws {
        var reader = JSONPullReader(bytes)
        var record: TaskRecord?
        var created, ready, readySince, due, dead: Int64?
        var lease: String?
        var cancel = false
        try reader.beginObject()
        while let key = try reader.nextKey() {
            if reader.key(key, is: "task") {
                record = try TaskRecord(reading: &reader)
            } else if reader.key(key, is: "created") {
                created = try reader.integer()
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
        guard let record, let created, let ready, let readySince, created > 0, ready > 0 else {
            throw SwitchboardError.malformed("a stored task without its task, sequences or ready time")
        }
        self.init(
            record: record, createdSequence: UInt64(created), readySequence: UInt64(ready),
            readySince: Timestamp(milliseconds: readySince), dueAt: due.map(Timestamp.init(milliseconds:)), leaseID: lease,
            cancelRequested: cancel, deadSequence: dead.map { UInt64(max($0, 0)) } ?? 0)
    }
}
