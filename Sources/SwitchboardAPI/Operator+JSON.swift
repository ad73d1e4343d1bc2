import SwitchboardCore
import SwitchboardJSON

// The operators' answers: queues, workers, runs, and the counts of bulk DLQ actions. The
// server writes them with the writer; clients read the small ones with Foundation's
// `JSONDecoder` through these `Decodable` shapes (a run's tasks with the task reader).

extension JSONWriter {
    /// `{state: count, …}` with every state, zero included (a queue's depth, a run's counts).
    mutating func statusCounts(_ counts: [TaskStatus: Int]) {
        beginObject()
        for status in TaskStatus.allCases {
            key(computed: status.rawValue)
            int(counts[status] ?? 0)
        }
        endObject()
    }
}

extension DurabilityReport {
    /// `{"survives_restart", "settings": {name: value}, "warnings": [text]}` (in `/readyz`).
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("survives_restart"); w.bool(survivesRestart)
        w.key("settings"); w.stringMap(settings)
        w.key("warnings")
        w.beginArray()
        for warning in warnings { w.string(warning) }
        w.endArray()
        w.endObject()
    }
}

extension ClockSkew {
    /// `{"skew_ms", "bound_ms", "within_bound", "measured_at"}` (in `/readyz`).
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("skew_ms"); w.int(skew.wholeMilliseconds)
        w.key("bound_ms"); w.int(bound.wholeMilliseconds)
        w.key("within_bound"); w.bool(isWithinBound)
        w.key("measured_at"); w.timestamp(measuredAt)
        w.endObject()
    }
}

extension QueueInfo {
    /// `{"name", "paused", "depth": {state: count, …}}`, every state present.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("name"); w.string(name)
        w.key("paused"); w.bool(paused)
        w.key("depth"); w.statusCounts(depth)
        w.key("oldest_pending_at"); if let oldestPendingSince { w.timestamp(oldestPendingSince) } else { w.null() }
        w.endObject()
    }
}

extension WorkerInfo {
    /// `{"id", "host", "slots", "busy", "last_seen", "state", "counters": {…}}`.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.string(id)
        w.key("host"); w.string(host)
        w.key("slots"); if let slots { w.int(slots) } else { w.null() }
        w.key("busy"); w.int(busy)
        w.key("last_seen"); w.timestamp(lastSeen)
        w.key("state"); w.string(gone ? "gone" : "active")
        w.key("counters")
        w.beginObject()
        w.key("leased"); w.int(leased)
        w.key("completed"); w.int(completed)
        w.key("failed"); w.int(failed)
        w.key("released"); w.int(released)
        w.key("expired"); w.int(expired)
        w.endObject()
        w.key("tools")
        w.beginArray()
        for tool in tools { w.string(tool.name) }
        w.endArray()
        w.endObject()
    }
}

extension RunInfo {
    /// `{"run_id", "counts": {state: count, …}, "total", "queues", "created_at", "updated_at"}`.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("run_id"); w.string(runID)
        w.key("counts"); w.statusCounts(counts)
        w.key("total"); w.int(counts.values.reduce(0, +))
        w.key("queues")
        w.beginArray()
        for queue in queues { w.string(queue) }
        w.endArray()
        w.key("created_at"); w.timestamp(createdAt)
        w.key("updated_at"); w.timestamp(updatedAt)
        w.endObject()
    }
}

extension RunSummary {
    /// `{"run_id", "counts": {state: count, …}, "tasks": [task…]}`.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("run_id"); w.string(runID)
        w.key("counts"); w.statusCounts(counts)
        w.key("tasks")
        w.beginArray()
        for task in tasks { task.write(to: &w) }
        w.endArray()
        w.endObject()
    }

    public init(json bytes: [UInt8]) throws(JSONError) {
        var reader = JSONPullReader(bytes)
        var runID: String?
        var counts: [TaskStatus: Int] = [:]
        var tasks: [TaskRecord] = []
        try reader.beginObject()
        while let key = try reader.nextKey() {
            if reader.key(key, is: "run_id") {
                runID = try reader.string()
            } else if reader.key(key, is: "counts"), !reader.isNull {
                try reader.beginObject()
                while let state = try reader.nextKey() {
                    let name = reader.text(of: state)
                    let count = Int(try reader.integer() ?? 0)
                    if let status = TaskStatus(rawValue: name) { counts[status] = count }
                }
            } else if reader.key(key, is: "tasks"), !reader.isNull {
                try reader.beginArray()
                while try reader.nextElement() { tasks.append(try TaskRecord(reading: &reader)) }
            } else {
                try reader.skipValue()
            }
        }
        try reader.end()
        guard let runID else { throw .shape("a run without run_id") }
        self.init(runID: runID, counts: counts, tasks: tasks)
    }
}

/// `GET /v1/queues` items, as a client decodes them.
public struct WireQueue: Decodable, Sendable {
    public var name: String
    public var paused: Bool
    public var depth: [String: Int]
    public var oldestPendingAt: Timestamp?

    enum CodingKeys: String, CodingKey {
        case name, paused, depth
        case oldestPendingAt = "oldest_pending_at"
    }

    public var info: QueueInfo {
        var counts: [TaskStatus: Int] = [:]
        for (state, n) in depth { if let status = TaskStatus(rawValue: state) { counts[status] = n } }
        return QueueInfo(name: name, paused: paused, depth: counts, oldestPendingSince: oldestPendingAt)
    }
}

/// `GET /v1/workers` items, as a client decodes them.
public struct WireWorker: Decodable, Sendable {
    public struct Counters: Decodable, Sendable {
        public var leased, completed, failed, released, expired: Int
    }

    public var id: String
    public var host: String?
    public var slots: Int?
    public var busy: Int
    public var lastSeen: Timestamp
    public var state: String
    public var counters: Counters
    public var tools: [String]?

    enum CodingKeys: String, CodingKey {
        case id, host, slots, busy, state, counters, tools
        case lastSeen = "last_seen"
    }

    public var info: WorkerInfo {
        WorkerInfo(
            id: id, host: host, slots: slots, busy: busy, lastSeen: lastSeen, gone: state == "gone", leased: counters.leased,
            completed: counters.completed, failed: counters.failed, released: counters.released, expired: counters.expired,
            tools: (tools ?? []).map { ToolDescriptor(name: $0) })
    }
}

/// `{"items": [...]}` of small `Decodable` items.
public struct WireItems<Item: Decodable & Sendable>: Decodable, Sendable {
    public var items: [Item]
}

/// The answers of bulk DLQ actions: `{"requeued": n}`, `{"deleted": n}`.
public struct WireCount: Decodable, Sendable {
    public var requeued: Int?
    public var deleted: Int?
}
