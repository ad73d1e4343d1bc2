import SwitchboardAPI
import SwitchboardCore
import SwitchboardJSON

/// A task in two parts: its body — what never changes after the enqueue (id, queue, type, run,
/// priority, metadata, payload, limits, lock key, schedule, creation time) — written once, and its
/// state — what transitions change, with the memory backend's bookkeeping — written at every
/// transition (at the enqueue beside the body, then in a row of its own). A lease or a completion
/// rewrites a row of some 20–100 bytes, not the payload (BENCHMARKS.md "SQLite"). The body is the
/// API's task JSON for those fields; the state is a compact binary row (`StateRow`).
extension StoredMemoryTask {
    /// The fields that never change, as a JSON object; absent ones (nil, no metadata) are left
    /// out, as the API's reader takes them to be (a smaller row).
    func encodeBody(into w: inout JSONWriter) {
        w.beginObject()
        w.key(TaskField.id.name); w.string(record.id)
        w.key(TaskField.queue.name); w.string(record.queue)
        w.key(TaskField.type.name); w.string(record.type)
        if let runID = record.runID { w.key(TaskField.runID.name); w.string(runID) }
        w.key(TaskField.priority.name); w.int(record.priority)
        if !record.metadata.isEmpty { w.key(TaskField.metadata.name); w.stringMap(record.metadata) }
        w.key(TaskField.payload.name); w.raw(record.payload)
        w.key(TaskField.maxRetries.name); w.int(record.maxRetries)
        w.key(TaskField.timeoutMS.name); w.int(record.timeoutMS)
        if let lockKey = record.lockKey { w.key(TaskField.lockKey.name); w.string(lockKey) }
        if let notBefore = record.notBefore { w.key(TaskField.notBefore.name); w.timestamp(notBefore) }
        w.key(TaskField.createdAt.name); w.timestamp(record.createdAt)
        w.endObject()
    }

    /// The fields transitions change, and the bookkeeping, as a state row (`StateRow`): binary
    /// for the fields every transition touches, with the API's JSON for a result and errors.
    func encodeState(into row: inout [UInt8], tail: inout JSONWriter) {
        row.removeAll(keepingCapacity: true)
        let hasTail = record.result != nil || record.error != nil || !record.errors.isEmpty
        let leaseSuffixed = leaseID.map { StateRow.isLease($0, of: record.id) } ?? false
        var flags = StateRow.Flags()
        if cancelRequested { flags.insert(.cancelRequested) }
        if dueAt != nil { flags.insert(.due) }
        if leaseID != nil { flags.insert(leaseSuffixed ? .leaseOfTask : .lease) }
        if record.startedAt != nil { flags.insert(.started) }
        if record.finishedAt != nil { flags.insert(.finished) }
        if record.workerID != nil { flags.insert(.worker) }
        if record.leaseExpiresAt != nil { flags.insert(.leaseExpires) }
        if hasTail { flags.insert(.tail) }
        row.append(StateRow.format)
        row.append(StateRow.code(of: record.status))
        row.append(UInt8(truncatingIfNeeded: flags.rawValue))
        row.append(UInt8(truncatingIfNeeded: flags.rawValue >> 8))
        StateRow.append(unsigned: readySequence, to: &row)
        StateRow.append(unsigned: deadSequence, to: &row)
        StateRow.append(signed: Int64(record.attempts), to: &row)
        StateRow.append(signed: Int64(record.releases), to: &row)
        StateRow.append(signed: readySince.milliseconds, to: &row)
        StateRow.append(signed: record.updatedAt.milliseconds, to: &row)
        if let dueAt { StateRow.append(signed: dueAt.milliseconds, to: &row) }
        if let startedAt = record.startedAt { StateRow.append(signed: startedAt.milliseconds, to: &row) }
        if let finishedAt = record.finishedAt { StateRow.append(signed: finishedAt.milliseconds, to: &row) }
        if let leaseExpiresAt = record.leaseExpiresAt { StateRow.append(signed: leaseExpiresAt.milliseconds, to: &row) }
        // A lease id is its 32 random hex digits then the task's id (`MemoryLeaseID`): the id is
        // in the body already.
        if let leaseID { StateRow.append(string: leaseID, prefix: leaseSuffixed ? 32 : nil, to: &row) }
        if let workerID = record.workerID { StateRow.append(string: workerID, to: &row) }
        if hasTail {
            tail.removeAll()
            tail.beginObject()
            if let result = record.result { tail.key(TaskField.result.name); tail.raw(result) }
            if let error = record.error { tail.key(TaskField.error.name); tail.string(error) }
            if !record.errors.isEmpty {
                tail.key(TaskField.errors.name)
                tail.beginArray()
                for entry in record.errors { entry.write(to: &tail) }
                tail.endArray()
            }
            tail.endObject()
            tail.withBytes { row.append(contentsOf: $0) }
        }
    }

    /// The task of row `sequence` from its body and its state row.
    init(sequence: UInt64, body: [UInt8], state: [UInt8]) throws {
        var reader = StateRow.Reader(state)
        guard try reader.byte() == StateRow.format else { throw SwitchboardError.malformed("a task's state row of an unknown format") }
        let status = try StateRow.status(coded: reader.byte())
        let flags = StateRow.Flags(rawValue: UInt16(try reader.byte()) | UInt16(try reader.byte()) << 8)
        let readySequence = try reader.unsigned()
        let deadSequence = try reader.unsigned()
        let attempts = try reader.signed()
        let releases = try reader.signed()
        let readySince = try reader.signed()
        let updatedAt = try reader.signed()
        let due = flags.contains(.due) ? try reader.signed() : nil
        let startedAt = flags.contains(.started) ? try reader.signed() : nil
        let finishedAt = flags.contains(.finished) ? try reader.signed() : nil
        let leaseExpiresAt = flags.contains(.leaseExpires) ? try reader.signed() : nil
        let lease = flags.contains(.lease) || flags.contains(.leaseOfTask) ? try reader.string() : nil
        let workerID = flags.contains(.worker) ? try reader.string() : nil
        let tail = flags.contains(.tail) ? reader.rest() : nil
        guard readySequence > 0 else { throw SwitchboardError.malformed("a task's state without its place") }
        // The body's fields, the tail's, and placeholders for the two fields the reader requires
        // (set from the row below): one task object for the API's reader.
        guard body.count > 2, body.first == UInt8(ascii: "{"), body.last == UInt8(ascii: "}") else {
            throw SwitchboardError.malformed("a task's body is not an object")
        }
        var joined = [UInt8]()
        joined.reserveCapacity(body.count + StateRow.placeholders.count + (tail?.count ?? 0) + 1)
        joined.append(contentsOf: body.dropLast())
        joined.append(contentsOf: StateRow.placeholders)
        if let tail {
            guard tail.count > 2, tail.first == UInt8(ascii: "{") else { throw SwitchboardError.malformed("a task's state tail is not an object") }
            joined.append(UInt8(ascii: ","))
            joined.append(contentsOf: tail.dropFirst())
        } else {
            joined.append(UInt8(ascii: "}"))
        }
        var record = try TaskRecord(json: joined)
        record.status = status
        record.attempts = Int(attempts)
        record.releases = Int(releases)
        record.updatedAt = Timestamp(milliseconds: updatedAt)
        record.startedAt = startedAt.map(Timestamp.init(milliseconds:))
        record.finishedAt = finishedAt.map(Timestamp.init(milliseconds:))
        record.leaseExpiresAt = leaseExpiresAt.map(Timestamp.init(milliseconds:))
        record.workerID = workerID
        self.init(
            record: record, createdSequence: sequence, readySequence: readySequence,
            readySince: Timestamp(milliseconds: readySince), dueAt: due.map(Timestamp.init(milliseconds:)),
            leaseID: lease.map { flags.contains(.leaseOfTask) ? $0 + record.id : $0 },
            cancelRequested: flags.contains(.cancelRequested), deadSequence: deadSequence)
    }
}

/// A task's state row, format 1: what every transition rewrites, kept small — a commit writes the
/// pages its rows land on, so the row's size is much of a commit's cost (BENCHMARKS.md "SQLite").
///
/// Format byte, status code, two flag bytes, then LEB128 varints (signed ones zigzagged): ready
/// sequence, dead sequence, attempts, releases, ready-since, updated-at; then, as the flags say,
/// due, started-at, finished-at, lease-expires-at (milliseconds), the lease id and the worker id
/// (length-prefixed UTF-8), and last a JSON object with `result`, `error` and `errors`.
enum StateRow {
    static let format: UInt8 = 1

    struct Flags: OptionSet {
        let rawValue: UInt16
        static let cancelRequested = Flags(rawValue: 1 << 0)
        static let due = Flags(rawValue: 1 << 1)
        static let lease = Flags(rawValue: 1 << 2)
        /// A lease id of 32 hex digits and the task's id: only the digits are stored.
        static let leaseOfTask = Flags(rawValue: 1 << 3)
        static let started = Flags(rawValue: 1 << 4)
        static let finished = Flags(rawValue: 1 << 5)
        static let worker = Flags(rawValue: 1 << 6)
        static let leaseExpires = Flags(rawValue: 1 << 7)
        static let tail = Flags(rawValue: 1 << 8)
    }

    /// Status codes: a status's place here. Stored in files, so never reordered — a new status
    /// goes at the end (not `TaskStatus.index`, which follows `allCases` and may change).
    static let statuses: [TaskStatus] = [.scheduled, .pending, .running, .retrying, .completed, .dead, .cancelled]

    static func code(of status: TaskStatus) -> UInt8 {
        UInt8(statuses.firstIndex(of: status)!)
    }

    static func status(coded code: UInt8) throws -> TaskStatus {
        guard Int(code) < statuses.count else { throw SwitchboardError.malformed("a task's state row with status code \(code)") }
        return statuses[Int(code)]
    }

    static let placeholders = Array(#","status":"pending","updated_at":"1970-01-01T00:00:00.000Z""#.utf8)

    static func append(unsigned value: UInt64, to row: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            row.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        row.append(UInt8(value))
    }

    static func append(signed value: Int64, to row: inout [UInt8]) {
        append(unsigned: UInt64(bitPattern: (value << 1) ^ (value >> 63)), to: &row)
    }

    /// `string`'s UTF-8 (its first `prefix` bytes when given), length first. Through its
    /// contiguous bytes: appending a `UTF8View` went byte by byte through its index.
    static func append(string: String, prefix: Int? = nil, to row: inout [UInt8]) {
        var string = string
        string.withUTF8 { bytes in
            let taken = UnsafeBufferPointer(rebasing: bytes.prefix(prefix ?? bytes.count))
            append(unsigned: UInt64(taken.count), to: &row)
            row.append(contentsOf: taken)
        }
    }

    /// Whether `leaseID` is 32 bytes (a lease's random hex digits) and then `taskID`, byte for
    /// byte — not `hasSuffix`, which takes canonically equivalent text as equal.
    static func isLease(_ leaseID: String, of taskID: String) -> Bool {
        var leaseID = leaseID
        var taskID = taskID
        return leaseID.withUTF8 { lease in
            taskID.withUTF8 { task in lease.count == 32 + task.count && lease[32...].elementsEqual(task) }
        }
    }

    struct Reader {
        private let bytes: [UInt8]
        private var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        mutating func byte() throws -> UInt8 {
            guard index < bytes.count else { throw SwitchboardError.malformed("a task's state row is cut short") }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func unsigned() throws -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let next = try byte()
                guard shift < 64 else { throw SwitchboardError.malformed("a task's state row has an overlong number") }
                value |= UInt64(next & 0x7f) << shift
                if next < 0x80 { return value }
                shift += 7
            }
        }

        mutating func signed() throws -> Int64 {
            let raw = try unsigned()
            return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
        }

        mutating func string() throws -> String {
            let count = try unsigned()
            guard count <= UInt64(bytes.count - index) else { throw SwitchboardError.malformed("a task's state row is cut short") }
            defer { index += Int(count) }
            return String(decoding: bytes[index..<index + Int(count)], as: UTF8.self)
        }

        /// What is left.
        mutating func rest() -> ArraySlice<UInt8> {
            defer { index = bytes.count }
            return bytes[index...]
        }
    }
}
