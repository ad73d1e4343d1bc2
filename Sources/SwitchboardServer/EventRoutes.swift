import HTTPTypes
import Hummingbird
import NIOCore
import SwitchboardAPI
import SwitchboardAuth
import SwitchboardCore
import SwitchboardJSON

/// `GET /v1/events`: this server's events as server-sent events (`Accept: text/event-stream`),
/// or as a JSON long-poll for clients that cannot hold a stream open (a buffering proxy; the
/// page's fallback). Both resume after an id (`Last-Event-ID` or `after`); when the bounded
/// journal dropped events the reader had not seen, or the id is of an earlier run of the
/// server, the answer says `reset` first: reload, then follow.
struct EventRoutes<Context: SwitchboardContext> {
    let engine: TaskEngine
    /// A comment line this often keeps proxies from closing an idle stream, and finds a client
    /// that left without closing its side.
    var keepAlive: Duration = .seconds(15)

    func add(to router: Router<Context>, table: RouteTable) {
        table.on(router, .get, "/v1/events", .allowing(.viewer, .producer, .operator), use: events)
    }

    @Sendable func events(_ request: Request, context: Context) async throws -> Response {
        let journal = engine.events
        let principal = context.principal
        let sees: @Sendable (EngineEvent) -> Bool = { event in
            event.queue.map(principal.mayUse(queue:)) ?? (principal.queues == nil)
        }
        let resume = try Self.resumePoint(request, journal: journal)
        let clock = engine.clock
        if request.headers[.accept]?.contains("text/event-stream") == true {
            return stream(journal, from: resume, sees: sees, presence: RequestPresence(channel: context.channel), clock: clock)
        }
        let limit = try request.intQuery("limit") ?? 1000
        let wait = try request.intQuery("wait_ms") ?? 0
        guard (1...1000).contains(limit) else { throw SwitchboardError.invalid("limit must be between 1 and 1000") }
        guard (0...30_000).contains(wait) else { throw SwitchboardError.invalid("wait_ms must be between 0 and 30000") }
        journal.noteRead(at: clock.now())
        var reading = journal.read(after: resume.after, limit: limit)
        if wait > 0, reading.events.isEmpty, !reading.missed, !resume.missed {
            let head = reading.through
            await Self.firstOf(
                { await journal.wait(after: head) }, { await RequestPresence(channel: context.channel).left() },
                { try? await Task.sleep(for: .milliseconds(wait)) })
            reading = journal.read(after: head, limit: limit)
            journal.noteRead(at: clock.now())
        }
        var w = JSONWriter(capacity: 256 + reading.events.count * 300)
        w.beginObject()
        w.key("reset"); w.bool(resume.missed || reading.missed)
        w.key("items")
        w.beginArray()
        for numbered in reading.events where sees(numbered.event) {
            numbered.event.write(id: Self.eventID(numbered.id, journal), to: &w)
        }
        w.endArray()
        w.key("last_event_id"); w.string(Self.eventID(reading.through, journal))
        w.endObject()
        return JSONResponse.ok(w, headers: [.cacheControl: "no-store"])
    }

    private func stream(
        _ journal: EventJournal, from resume: ResumePoint, sees: @escaping @Sendable (EngineEvent) -> Bool, presence: RequestPresence,
        clock: any SwitchboardClock
    ) -> Response {
        let keepAlive = keepAlive
        let body = ResponseBody { writer in
            journal.readerArrived(at: clock.now())
            defer { journal.readerLeft(at: clock.now()) }
            // Where this stream stands; `retry` tells EventSource how soon to come back.
            var last = resume.after ?? journal.read(after: nil).head
            var frame = ByteBuffer(string: "retry: 2000\n")
            if resume.missed { Self.frame(reset: last, journal, into: &frame) }
            frame.writeString("id: \(Self.eventID(last, journal))\ndata: {\"type\":\"ready\"}\n\n")
            try await writer.write(frame)
            while true {
                let reading = journal.read(after: last)
                var out = ByteBuffer()
                if reading.missed { Self.frame(reset: reading.head, journal, into: &out) }
                for numbered in reading.events where sees(numbered.event) {
                    var w = JSONWriter(capacity: 300)
                    let id = Self.eventID(numbered.id, journal)
                    numbered.event.write(id: id, to: &w)
                    out.writeString("id: \(id)\ndata: ")
                    out.writeBytes(w.bytes)
                    out.writeString("\n\n")
                }
                last = reading.through
                if out.readableBytes > 0 { try await writer.write(out) }
                // More may already be there (a read takes at most 1,000).
                if reading.events.count == 1000 { continue }
                let from = last
                let woken: Wake = await Self.firstOf(
                    { await journal.wait(after: from); return Wake.event },
                    { await presence.left(); return Wake.left },
                    { try? await Task.sleep(for: keepAlive); return Wake.quiet })
                if woken == .left { break }
                if woken == .quiet { try await writer.write(ByteBuffer(string: ": keep-alive\n\n")) }
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: body)
    }

    enum Wake: Sendable { case event, left, quiet }

    /// Runs the three and returns the first one's answer, cancelling the others.
    private static func firstOf<T: Sendable>(
        _ a: @escaping @Sendable () async -> T, _ b: @escaping @Sendable () async -> T, _ c: @escaping @Sendable () async -> T
    ) async -> T {
        await withTaskGroup(of: T.self) { group in
            group.addTask(operation: a)
            group.addTask(operation: b)
            group.addTask(operation: c)
            let first = await group.next()!
            group.cancelAll()
            return first
        }
    }

    private static func firstOf(
        _ a: @escaping @Sendable () async -> Void, _ b: @escaping @Sendable () async -> Void, _ c: @escaping @Sendable () async -> Void
    ) async {
        let _: Wake = await firstOf({ await a(); return .event }, { await b(); return .left }, { await c(); return .quiet })
    }

    private static func frame(reset head: UInt64, _ journal: EventJournal, into buffer: inout ByteBuffer) {
        buffer.writeString("id: \(eventID(head, journal))\ndata: {\"type\":\"reset\"}\n\n")
    }

    static func eventID(_ number: UInt64, _ journal: EventJournal) -> String { "\(journal.epoch)-\(number)" }

    struct ResumePoint {
        /// The number to read after; nil: from now on.
        var after: UInt64?
        /// The id named events this run of the server never had, or no longer has: reload.
        var missed: Bool
    }

    /// `Last-Event-ID` (what EventSource sends when it reconnects) or `after`: `EPOCH-NUMBER`.
    /// Both are checked when both are sent (a bad one is refused even where the other wins).
    static func resumePoint(_ request: Request, journal: EventJournal) throws(SwitchboardError) -> ResumePoint {
        let query = try request.query("after").map { text throws(SwitchboardError) in try resumePoint(text, journal: journal) }
        let header = try request.headers[HTTPField.Name("Last-Event-ID")!].map { text throws(SwitchboardError) in
            try resumePoint(text, journal: journal)
        }
        return header ?? query ?? ResumePoint(after: nil, missed: false)
    }

    /// An id as openapi.yaml spells it: `[a-z0-9]+-[0-9]{1,19}`.
    private static func resumePoint(_ text: String, journal: EventJournal) throws(SwitchboardError) -> ResumePoint {
        guard let dash = text.lastIndex(of: "-"), dash != text.startIndex,
            text[..<dash].utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x7A).contains($0) }),
            let number = UInt64(text[text.index(after: dash)...]), text[text.index(after: dash)...].utf8.allSatisfy({ (0x30...0x39).contains($0) })
        else {
            throw .invalid("an event id is EPOCH-NUMBER as this server sent it, not \(text.debugDescription)")
        }
        guard text[..<dash] == journal.epoch else { return ResumePoint(after: nil, missed: true) }
        return ResumePoint(after: number, missed: false)
    }
}
