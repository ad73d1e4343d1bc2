import Synchronization

/// A worker as this server has seen it (`GET /v1/workers`).
public struct WorkerInfo: Sendable, Hashable {
    public var id: String
    /// As the worker reported it (remote workers send their host name).
    public var host: String?
    /// Its concurrency, when it said.
    public var slots: Int?
    /// Leases it holds now, as counted here: leased minus ended.
    public var busy: Int
    public var lastSeen: Timestamp
    /// Not heard from for longer than the registry's `goneAfter`.
    public var gone: Bool
    public var leased: Int
    public var completed: Int
    public var failed: Int
    public var released: Int
    /// Leases that ran out before the worker reported (reaped).
    public var expired: Int
    /// The tools it runs, as it last said, by name.
    public var tools: [ToolDescriptor]
    /// The queues it leases from, in its order, as it last said.
    public var queues: [String] = []

    public init(
        id: String, host: String? = nil, slots: Int? = nil, busy: Int = 0, lastSeen: Timestamp, gone: Bool = false,
        leased: Int = 0, completed: Int = 0, failed: Int = 0, released: Int = 0, expired: Int = 0, tools: [ToolDescriptor] = []
    ) {
        self.tools = tools
        self.id = id
        self.host = host
        self.slots = slots
        self.busy = busy
        self.lastSeen = lastSeen
        self.gone = gone
        self.leased = leased
        self.completed = completed
        self.failed = failed
        self.released = released
        self.expired = expired
    }
}

/// Every worker that leased from this engine, in-process or remote, with what it did. Each
/// server keeps its own (several servers on one Redis each see the workers that talk to them).
/// A worker not heard from for `goneAfter` is shown as gone, and forgotten after `forgetAfter`.
public final class WorkerRegistry: Sendable {
    public let goneAfter: Duration
    public let forgetAfter: Duration
    private let workers = Mutex<[String: WorkerInfo]>([:])

    public init(goneAfter: Duration = .seconds(90), forgetAfter: Duration = .seconds(3600)) {
        self.goneAfter = goneAfter
        self.forgetAfter = forgetAfter
    }

    enum Event {
        case seen
        case leased(Int)
        case completed(Int)
        case failed
        case released
        case expired
    }

    func record(_ event: Event, worker id: String, host: String? = nil, slots: Int? = nil, tools: [ToolDescriptor]? = nil, queues: [String]? = nil, at now: Timestamp) {
        workers.withLock { all in
            var info = all[id] ?? WorkerInfo(id: id, lastSeen: now)
            if let host { info.host = host }
            if let slots { info.slots = slots }
            if let tools { info.tools = tools.sorted { $0.name < $1.name } }
            if let queues { info.queues = queues }
            switch event {
            case .seen: break
            case .leased(let n):
                info.leased += n
                info.busy += n
            case .completed(let n):
                info.completed += n
                info.busy = max(info.busy - n, 0)
            case .failed:
                info.failed += 1
                info.busy = max(info.busy - 1, 0)
            case .released:
                info.released += 1
                info.busy = max(info.busy - 1, 0)
            case .expired:
                info.expired += 1
                info.busy = max(info.busy - 1, 0)
            }
            // A reaped lease says nothing of the worker being alive.
            if case .expired = event {} else { info.lastSeen = max(info.lastSeen, now) }
            all[id] = info
        }
    }

    /// Workers by id, with `gone` as of `now`; long-gone ones are forgotten.
    public func list(now: Timestamp) -> [WorkerInfo] {
        workers.withLock { all in
            all = all.filter { now - $0.value.lastSeen < forgetAfter }
            return all.values.map { info in
                var info = info
                info.gone = now - info.lastSeen > goneAfter
                return info
            }.sorted { $0.id < $1.id }
        }
    }
}
