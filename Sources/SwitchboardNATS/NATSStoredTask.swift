import NIOCore
import SwitchboardAPI
import SwitchboardCore
import SwitchboardJSON

/// A task as its subject holds it: the task's JSON (as the API writes it) inside an envelope of
/// what only the backend needs. Orders are stream sequences: a nil order means "the sequence of
/// this very write", which a writer cannot know before the server acknowledges it, and every
/// later write of the task carries the resolved number on.
struct NATSStoredTask: Sendable, Hashable {
    var record: TaskRecord
    var leaseID: String?
    var cancelRequested = false
    /// Its place among the ready tasks of its priority (kept through a lease, so that a release
    /// gives the place back); nil: this write's sequence.
    var readyOrder: UInt64?
    /// Its place in creation order (for paging); nil: this write's sequence.
    var createdOrder: UInt64?
    /// When it last became ready (for the wait-time metric).
    var readySince: Timestamp
    /// When a scheduled or retrying task is due.
    var dueAt: Timestamp?
    var fencingToken: UInt64?

    func encoded() -> ByteBuffer {
        var w = JSONWriter(capacity: 640 + record.payload.bytes.count + (record.result?.bytes.count ?? 0))
        w.beginObject()
        if let leaseID { w.key("lease"); w.string(leaseID) }
        if cancelRequested { w.key("cancel"); w.bool(true) }
        if let readyOrder { w.key("order"); w.int(readyOrder) }
        if let createdOrder { w.key("created"); w.int(createdOrder) }
        w.key("ready_since"); w.int(readySince.milliseconds)
        if let dueAt { w.key("due"); w.int(dueAt.milliseconds) }
        if let fencingToken { w.key("token"); w.int(fencingToken) }
        w.key("task")
        record.write(to: &w)
        w.endObject()
        return ByteBuffer(bytes: w.bytes)
    }

    init(record: TaskRecord, readySince: Timestamp) {
        self.record = record
        self.readySince = readySince
    }

    init(decoding buffer: ByteBuffer) throws {
        var reader = JSONPullReader(Array(buffer.readableBytesView))
        var record: TaskRecord?
        var readySince: Int64 = 0
        var lease: String?
        var cancel = false
        var order, created, due, token: Int64?
        try reader.beginObject()
        while let key = try reader.nextKey() {
            if reader.key(key, is: "task") {
                record = try TaskRecord(reading: &reader)
            } else if reader.key(key, is: "lease") {
                lease = try reader.string()
            } else if reader.key(key, is: "cancel") {
                cancel = try reader.bool() ?? false
            } else if reader.key(key, is: "order") {
                order = try reader.integer()
            } else if reader.key(key, is: "created") {
                created = try reader.integer()
            } else if reader.key(key, is: "ready_since") {
                readySince = try reader.integer() ?? 0
            } else if reader.key(key, is: "due") {
                due = try reader.integer()
            } else if reader.key(key, is: "token") {
                token = try reader.integer()
            } else {
                try reader.skipValue()
            }
        }
        try reader.end()
        guard let record else { throw SwitchboardError.malformed("a stored task without its task") }
        self.record = record
        self.readySince = Timestamp(milliseconds: readySince)
        leaseID = lease
        cancelRequested = cancel
        readyOrder = order.map { UInt64($0) }
        createdOrder = created.map { UInt64($0) }
        dueAt = due.map(Timestamp.init(milliseconds:))
        fencingToken = token.map { UInt64($0) }
    }

    /// The orders that a nil stands for, now that this write's sequence is known.
    mutating func resolveOrders(at sequence: UInt64) {
        if createdOrder == nil { createdOrder = sequence }
        if readyOrder == nil, record.status == .pending { readyOrder = sequence }
    }
}

/// A lock key's subject: which lease holds it, or free (an empty payload).
struct NATSKeyHolder: Sendable, Hashable {
    var taskID: String
    var leaseID: String

    func encoded() -> ByteBuffer {
        var w = JSONWriter(capacity: 64 + taskID.utf8.count + leaseID.utf8.count)
        w.beginObject()
        w.key("task"); w.string(taskID)
        w.key("lease"); w.string(leaseID)
        w.endObject()
        return ByteBuffer(bytes: w.bytes)
    }

    /// Nil for a free key.
    static func decode(_ buffer: ByteBuffer) throws -> NATSKeyHolder? {
        guard buffer.readableBytes > 0 else { return nil }
        let reader = try JSONObjectReader(Array(buffer.readableBytesView))
        guard let task = try reader.string("task"), let lease = try reader.string("lease") else {
            throw SwitchboardError.malformed("a lock key's holder without task and lease")
        }
        return NATSKeyHolder(taskID: task, leaseID: lease)
    }
}

/// An idempotency key's subject: the task it returns, until when.
struct NATSIdempotencyEntry: Sendable, Hashable {
    var taskID: String
    var expiresAt: Timestamp

    func encoded() -> ByteBuffer {
        var w = JSONWriter(capacity: 64 + taskID.utf8.count)
        w.beginObject()
        w.key("task"); w.string(taskID)
        w.key("expires"); w.int(expiresAt.milliseconds)
        w.endObject()
        return ByteBuffer(bytes: w.bytes)
    }

    static func decode(_ buffer: ByteBuffer) throws -> NATSIdempotencyEntry? {
        guard buffer.readableBytes > 0 else { return nil }
        let reader = try JSONObjectReader(Array(buffer.readableBytesView))
        guard let task = try reader.string("task"), let expires = try reader.integer("expires") else {
            throw SwitchboardError.malformed("an idempotency key without task and expiry")
        }
        return NATSIdempotencyEntry(taskID: task, expiresAt: Timestamp(milliseconds: expires))
    }
}
