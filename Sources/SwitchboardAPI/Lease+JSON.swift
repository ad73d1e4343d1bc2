import SwitchboardCore
import SwitchboardJSON

// The lease protocol's JSON (DESIGN.md §3): lease answers, the completions a worker sends
// (on its next lease call or in a batch), each completion's status, and a heartbeat's answer.

extension TaskLease {
    /// `{"lease_id", "expires_at", "fencing_token", "task"}`: one item of a lease answer
    /// (`fencing_token` null for a task without a lock key).
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("lease_id"); w.string(leaseID)
        w.key("expires_at"); w.timestamp(expiresAt)
        w.key("fencing_token"); if let fencingToken { w.int(fencingToken) } else { w.null() }
        w.key("task"); task.write(to: &w)
        w.endObject()
    }

    /// The lease object the reader stands on. The server does not say when the task became
    /// ready; the lease's expiry stands in.
    public init(reading reader: inout JSONPullReader) throws(JSONError) {
        var leaseID: String?
        var expiresAt: Timestamp?
        var token: Int64?
        var task: TaskRecord?
        try reader.beginObject()
        while let key = try reader.nextKey() {
            if reader.key(key, is: "lease_id") {
                leaseID = try reader.string()
            } else if reader.key(key, is: "expires_at") {
                expiresAt = try reader.timestamp()
            } else if reader.key(key, is: "fencing_token") {
                token = try reader.integer()
            } else if reader.key(key, is: "task") {
                task = try TaskRecord(reading: &reader)
            } else {
                try reader.skipValue()
            }
        }
        guard let leaseID, let expiresAt, let task else { throw .shape("a lease without lease_id, expires_at or task") }
        self.init(
            leaseID: leaseID, expiresAt: expiresAt, task: task, readySince: expiresAt,
            fencingToken: token.flatMap { $0 > 0 ? UInt64($0) : nil })
    }
}

/// How one completion went: done (with its task when the answer carries tasks), or refused with
/// the status and detail of its problem.
public enum CompletionStatus: Sendable, Equatable {
    case completed(TaskRecord?)
    case failed(status: Int, detail: String)

    public init(_ outcome: Result<TaskRecord, SwitchboardError>, withTask: Bool) {
        switch outcome {
        case .success(let task): self = .completed(withTask ? task : nil)
        case .failure(let error): self = .failed(status: WireStatus.code(of: error.kind), detail: error.detail)
        }
    }

    /// `{"lease_id", "status", "task"? | "detail"}`.
    public func write(leaseID: String, to w: inout JSONWriter) {
        w.beginObject()
        w.key("lease_id"); w.string(leaseID)
        switch self {
        case .completed(let task):
            w.key("status"); w.int(200)
            if let task { w.key("task"); task.write(to: &w) }
        case .failed(let status, let detail):
            w.key("status"); w.int(status)
            w.key("detail"); w.string(detail)
        }
        w.endObject()
    }

    public init(reading reader: inout JSONPullReader) throws(JSONError) {
        var status: Int64?
        var detail: String?
        var task: TaskRecord?
        try reader.beginObject()
        while let key = try reader.nextKey() {
            if reader.key(key, is: "status") {
                status = try reader.integer()
            } else if reader.key(key, is: "task") {
                task = try TaskRecord(reading: &reader)
            } else if reader.key(key, is: "detail") {
                detail = try reader.string()
            } else {
                try reader.skipValue()
            }
        }
        let code = Int(status ?? 0)
        self = code == 200 ? .completed(task) : .failed(status: code, detail: detail ?? "")
    }

    /// A list of statuses, one per completion in the order sent.
    public static func write(_ statuses: [(leaseID: String, status: CompletionStatus)], to w: inout JSONWriter) {
        w.beginArray()
        for entry in statuses { entry.status.write(leaseID: entry.leaseID, to: &w) }
        w.endArray()
    }
}

/// A lease call's answer: `{"items": [lease…], "completed"?: [status…]}`.
public struct LeaseAnswer: Sendable {
    public var leases: [TaskLease]
    /// The statuses of the completions the call carried, nil when it carried none.
    public var completed: [CompletionStatus]?

    public init(leases: [TaskLease], completed: [CompletionStatus]?) {
        self.leases = leases
        self.completed = completed
    }

    /// Written straight into a buffer reserved up front (a thousand tasks would otherwise grow
    /// it a dozen times).
    public static func write(leases: [TaskLease], completed: [(leaseID: String, status: CompletionStatus)]?, to w: inout JSONWriter) {
        w.beginObject()
        w.key("items")
        w.beginArray()
        for lease in leases { lease.write(to: &w) }
        w.endArray()
        if let completed {
            w.key("completed")
            CompletionStatus.write(completed, to: &w)
        }
        w.endObject()
    }

    /// The bytes a lease answer of these leases is likely to take.
    public static func capacity(for leases: [TaskLease]) -> Int {
        96 + leases.count * (768 + (leases.first?.task.payload.bytes.count ?? 0))
    }

    /// In one pass, without a tree (a worker reads every task it runs this way; `bench codec`
    /// times it against Foundation's `JSONDecoder`).
    public init(json bytes: [UInt8]) throws(JSONError) {
        var reader = JSONPullReader(bytes)
        var leases: [TaskLease] = []
        var completed: [CompletionStatus]?
        try reader.beginObject()
        while let key = try reader.nextKey() {
            if reader.key(key, is: "items"), !reader.isNull {
                try reader.beginArray()
                while try reader.nextElement() { leases.append(try TaskLease(reading: &reader)) }
            } else if reader.key(key, is: "completed"), !reader.isNull {
                var statuses: [CompletionStatus] = []
                try reader.beginArray()
                while try reader.nextElement() { statuses.append(try CompletionStatus(reading: &reader)) }
                completed = statuses
            } else {
                try reader.skipValue()
            }
        }
        try reader.end()
        self.init(leases: leases, completed: completed)
    }
}

extension LeaseCompletion {
    /// The most completions one call may carry.
    public static let maxPerCall = 1000

    /// `[{"lease_id", "result"?}]`.
    public static func write(_ completions: [LeaseCompletion], to w: inout JSONWriter) {
        w.beginArray()
        for completion in completions {
            w.beginObject()
            w.key("lease_id"); w.string(completion.leaseID)
            if let result = completion.result { w.key("result"); w.raw(result) }
            w.endObject()
        }
        w.endArray()
    }

    /// The completions listed in `key` of a request body (nil when absent or null), each
    /// checked before any is applied; read in one pass, as a worker sends one per task it ran.
    public static func readList(in body: JSONObjectReader, _ key: String) throws(SwitchboardError) -> [LeaseCompletion]? {
        try readingWire { () throws(JSONError) in try readList(body, key) }
    }

    private static func readList(_ body: JSONObjectReader, _ key: String) throws(JSONError) -> [LeaseCompletion]? {
        guard var reader = body.pullReader(key) else { return nil }
        let bounds = "\(key) must hold 1-\(maxPerCall) completions"
        guard reader.kind == .array else { throw .shape("\(key) must be an array") }
        var completions: [LeaseCompletion] = []
        try reader.beginArray()
        while try reader.nextElement() {
            let index = completions.count
            guard completions.count < maxPerCall else { throw .shape(bounds) }
            guard reader.kind == .object else { throw .shape("\(key)[\(index)] must be an object") }
            var leaseID: String?
            var result: RawJSON?
            try reader.beginObject()
            while let field = try reader.nextKey() {
                if reader.key(field, is: "lease_id") {
                    guard reader.kind == .string || reader.kind == .null else { throw .shape("\(key)[\(index)].lease_id must be a string") }
                    leaseID = try reader.string()
                } else if reader.key(field, is: "result") {
                    let value = try reader.raw()
                    result = value.isNull ? nil : value
                } else {
                    throw .shape("unknown field '\(key)[\(index)].\(reader.text(of: field))'")
                }
            }
            guard let leaseID, !leaseID.isEmpty else { throw .shape("\(key)[\(index)].lease_id is required") }
            completions.append(LeaseCompletion(leaseID: leaseID, result: result))
        }
        guard !completions.isEmpty else { throw .shape(bounds) }
        return completions
    }
}

extension HeartbeatStatus {
    /// `{"expires_at", "cancel_requested"}`.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("expires_at"); w.timestamp(expiresAt)
        w.key("cancel_requested"); w.bool(cancelRequested)
        w.endObject()
    }

    public init(json bytes: [UInt8]) throws(JSONError) {
        let object = try JSONObjectReader(bytes)
        guard let expires = try object.string("expires_at"), let expiresAt = Timestamp(rfc3339: expires) else {
            throw .shape("a heartbeat answer without expires_at")
        }
        self.init(expiresAt: expiresAt, cancelRequested: try object.bool("cancel_requested") ?? false)
    }
}
