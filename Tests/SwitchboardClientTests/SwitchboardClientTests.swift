import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServiceLifecycle
import SwitchboardAPI
import SwitchboardClient
import SwitchboardCore
import SwitchboardJSON
import SwitchboardServer
import Synchronization
import Testing

/// The client against a real server (HummingbirdTesting's live mode, on a free port).
@Suite("Switchboard client", .timeLimit(.minutes(1)))
struct SwitchboardClientTests {
    let server: ControlPlane

    init() {
        let metrics = ServerMetrics()
        let engine = TaskEngine.memory(metricsFactory: metrics.factory)
        server = ControlPlane(
            engine: engine, locks: MemoryLockService(), metrics: metrics, settings: ServerSettings())
    }

    func withClient(_ body: @escaping @Sendable (APIClient) async throws -> Void) async throws {
        // Served as `switchboard serve` serves: requests handled on the event loops.
        let app = Application(
            router: server.router(), server: server.httpServer,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            eventLoopGroupProvider: .shared(server.eventLoopGroup))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            try await body(APIClient(baseURL: "http://127.0.0.1:\(port)"))
        }
    }

    @Test("the shared HTTP client makes no spans when no tracer is bootstrapped")
    func noSpansForNobody() {
        #expect(APIClient.sharedHTTPClient.tracer == nil)
    }

    @Test("a lease answer the server writes reads back as the same leases, with each carried completion's status")
    func leaseAnswerRoundTrip() throws {
        let now = Timestamp(milliseconds: 1_795_000_000_000)
        let leases = (0..<3).map { i in
            TaskLease(
                leaseID: "lease-\(i)", expiresAt: now + .seconds(35),
                task: TaskRecord(
                    id: "task-\(i)", queue: "q", type: "tool_call", metadata: ["k": "v\(i)"],
                    payload: try! RawJSON(validating: #"{"tool_name": "echo", "input": {"n": \#(i)}}"#), status: .running, attempts: 1,
                    maxRetries: 3, timeoutMS: 30_000, createdAt: now - .milliseconds(i), updatedAt: now, startedAt: now,
                    workerID: "w", leaseExpiresAt: now + .seconds(35)),
                readySince: now + .seconds(35))
        }
        var w = JSONWriter()
        w.beginObject()
        w.key("items")
        w.beginArray()
        for lease in leases { lease.write(to: &w) }
        w.endArray()
        w.key("completed")
        w.beginArray()
        w.beginObject(); w.key("lease_id"); w.string("a"); w.key("status"); w.int(200); w.endObject()
        w.beginObject(); w.key("lease_id"); w.string("b"); w.key("status"); w.int(409); w.key("detail"); w.string("stale"); w.endObject()
        w.endArray()
        w.endObject()
        let (read, statuses) = try APIClient.readLeaseAnswer(w.bytes)
        #expect(read == leases, "readySince stands in as the lease's expiry, as the reader documents")
        #expect(statuses.count == 2 && statuses[0] == nil)
        #expect((statuses[1] as? ProblemError)?.status == 409)
        #expect(throws: SwitchboardError.self) { try APIClient.readLeaseAnswer(Array(#"{"items": [{"lease_id": "x"}]}"#.utf8)) }
    }

    @Test("tasks: enqueue (with replay), get, list, run, cancel")
    func tasks() async throws {
        try await withClient { client in
            var submission = TaskSubmission.toolCall("echo", input: try RawJSON(validating: #"{"a": 1}"#))
            submission.runID = "run-c"
            submission.queue = "client"
            let first = try await client.enqueue(submission, idempotencyKey: "key-1")
            let replay = try await client.enqueue(submission, idempotencyKey: "key-1")
            #expect(first.created && !replay.created && first.task.id == replay.task.id)
            let batch = try await client.enqueue(batch: [submission, submission])
            #expect(batch.count == 2)
            #expect(try await client.task(id: first.task.id).payload.parsed() == submission.payload.parsed())
            let page = try await client.tasks(TaskFilter(queue: "client"), page: PageRequest(limit: 2))
            #expect(page.items.map(\.id) == [first.task.id, batch[0].id])
            let rest = try await client.tasks(TaskFilter(queue: "client"), page: PageRequest(limit: 2, cursor: page.nextCursor))
            #expect(rest.items.map(\.id) == [batch[1].id] && rest.nextCursor == nil)
            #expect(try await client.run("run-c").counts[.pending] == 3)
            #expect(try await client.cancel(id: batch[1].id).status == .cancelled)
        }
    }

    @Test("errors carry the server's problem")
    func problems() async throws {
        try await withClient { client in
            do {
                _ = try await client.task(id: "no-such-task")
                Issue.record("expected a problem")
            } catch let problem as ProblemError {
                #expect(problem.status == 404 && problem.title == "Not Found" && problem.detail.contains("no-such-task"))
                #expect(problem.switchboardError?.kind == .notFound)
            }
            do {
                _ = try await client.enqueue(TaskSubmission(priority: 300, payload: try RawJSON(validating: #"{"tool_name": "x"}"#)))
                Issue.record("expected a problem")
            } catch let problem as ProblemError {
                #expect(problem.status == 422 && problem.detail.contains("priority"))
            }
        }
    }

    @Test("an unreachable server is `unavailable`")
    func unreachable() async throws {
        var configuration = APIClient.Configuration(baseURL: "http://127.0.0.1:1")
        configuration.retries = 1
        configuration.retryBase = .milliseconds(1)
        let client = try APIClient(configuration)
        await #expect(throws: SwitchboardError.self) { try await client.task(id: "x") }
        await #expect(throws: SwitchboardError.self) { try await client.enqueue(TaskSubmission(payload: .emptyObject)) }
    }

    @Test("the very same Worker runs over REST: leases, completes, fails into the DLQ, and is listed")
    func remoteWorker() async throws {
        try await withClient { client in
            let worker = Worker(
                configuration: Worker.Configuration(id: "remote-1", queues: ["rq"], concurrency: 4, pollInterval: .milliseconds(500), host: "test-host"),
                source: RemoteTaskSource(client: client), locks: RemoteLockService(client: client))
            let guarded = Mutex(0)
            worker.registerHandler(for: "locked") { context in
                // A handler's locks go through the REST API too.
                let lease = try #require(try await context.locks.acquire(key: "shared", holder: context.task.id, ttl: .seconds(5), wait: .seconds(5)))
                guarded.withLock { $0 += 1 }
                try await context.locks.release(key: "shared", holder: context.task.id, token: lease.token)
                return nil
            }
            var ids: [String] = []
            for i in 0..<10 {
                var echo = TaskSubmission.toolCall("echo", input: try RawJSON(validating: "{\"i\": \(i)}"))
                echo.queue = "rq"
                ids.append(try await client.enqueue(echo).task.id)
            }
            let locked = try await client.enqueue(TaskSubmission(queue: "rq", type: "locked", payload: .emptyObject)).task.id
            var doomed = TaskSubmission.toolCall("fail", input: try RawJSON(validating: #"{"message": "no", "retryable": false}"#))
            doomed.queue = "rq"
            let dead = try await client.enqueue(doomed).task.id
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                for id in ids + [locked] {
                    while try await client.task(id: id).status != .completed { try await Task.sleep(for: .milliseconds(10)) }
                }
                while try await client.task(id: dead).status != .dead { try await Task.sleep(for: .milliseconds(10)) }
                worker.stop()
                try await group.waitForAll()
            }
            #expect(guarded.withLock { $0 } == 1)
            #expect(try await client.task(id: ids[3]).result?.parsed() == (try RawJSON(validating: #"{"i": 3}"#).parsed()))
            #expect(try await client.deadLetters(queue: "rq").items.map(\.id) == [dead])
            let seen = try #require(try await client.workers().first { $0.id == "remote-1" })
            #expect(seen.host == "test-host" && seen.slots == 4 && seen.completed == 11 && seen.failed == 1 && seen.busy == 0)
            #expect(try await client.requeueDead(id: dead).status == .pending)
        }
    }

    @Test("a remote Worker's own retry limit reaches the server, as an in-process one's reaches the engine")
    func remoteWorkerRetryLimit() async throws {
        try await withClient { client in
            let worker = Worker(
                configuration: Worker.Configuration(id: "strict", queues: ["retry-q"], concurrency: 1, pollInterval: .milliseconds(200), maxRetries: 0),
                source: RemoteTaskSource(client: client), locks: RemoteLockService(client: client))
            var flaky = TaskSubmission.toolCall("fail", input: try RawJSON(validating: #"{"message": "flaky", "retryable": true}"#))
            flaky.queue = "retry-q"
            flaky.maxRetries = 3
            let id = try await client.enqueue(flaky).task.id
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                while try await client.task(id: id).status != .dead { try await Task.sleep(for: .milliseconds(10)) }
                worker.stop()
                try await group.waitForAll()
            }
            let task = try await client.task(id: id)
            #expect(task.attempts == 1, "retryable, three retries allowed by the task, none by the worker")
        }
    }

    @Test("a remote worker honours a cancel: the heartbeat carries it and the handler stops")
    func remoteCancel() async throws {
        try await withClient { client in
            let worker = Worker(
                configuration: Worker.Configuration(
                    id: "remote-c", queues: ["cq"], concurrency: 1, pollInterval: .milliseconds(200),
                    heartbeatInterval: .milliseconds(20), cancelCheckInterval: .milliseconds(50)),
                source: RemoteTaskSource(client: client), locks: RemoteLockService(client: client))
            var sleeper = TaskSubmission.toolCall("sleep", input: try RawJSON(validating: #"{"ms": 30000}"#))
            sleeper.queue = "cq"
            let id = try await client.enqueue(sleeper).task.id
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                while try await client.task(id: id).status != .running { try await Task.sleep(for: .milliseconds(10)) }
                #expect(try await client.cancel(id: id).status == .running, "asked, still running")
                while try await client.task(id: id).status == .running { try await Task.sleep(for: .milliseconds(10)) }
                worker.stop()
                try await group.waitForAll()
            }
            #expect(try await client.task(id: id).status == .cancelled)
            let healthy = await client.isHealthy()
            let ready = await client.isReady()
            #expect(healthy && ready)
            #expect(try await client.metrics().contains("switchboard_tasks_enqueued_total"))
        }
    }

    @Test("completions in a batch; a stale one fails alone")
    func completeBatch() async throws {
        try await withClient { client in
            _ = try await client.enqueue(batch: (0..<3).map { _ in TaskSubmission(queue: "batch", type: "t", payload: .emptyObject) })
            let leases = try await client.lease(LeaseRequest(workerID: "b", queues: ["batch"], maxTasks: 3))
            #expect(leases.count == 3)
            _ = try await client.complete(leaseID: leases[2].leaseID, result: nil)
            #expect(leases.allSatisfy { $0.fencingToken == nil }, "no fencing token without a lock key")
            var keyed = TaskSubmission(queue: "keyed", type: "t", payload: .emptyObject)
            keyed.lockKey = "k"
            _ = try await client.enqueue(keyed)
            let held = try #require(try await client.lease(LeaseRequest(workerID: "b", queues: ["keyed"])).first)
            #expect((held.fencingToken ?? 0) > 0, "a keyed task's lease carries its fencing token over the wire")
            let outcomes = try await client.complete(batch: leases.map { LeaseCompletion(leaseID: $0.leaseID, result: try? RawJSON(validating: "true")) })
            #expect(try outcomes[0].get().status == .completed && (try outcomes[1].get().result?.boolValue) == true)
            #expect(throws: ProblemError.self) { try outcomes[2].get() }
        }
    }

    @Test("a remote source completes a batch with statuses only; a stale lease is a conflict, the rest complete")
    func remoteSourceBatch() async throws {
        try await withClient { client in
            let source = RemoteTaskSource(client: client)
            _ = try await client.enqueue(batch: (0..<3).map { _ in TaskSubmission(queue: "quiet", type: "t", payload: .emptyObject) })
            let leases = try await source.lease(LeaseRequest(workerID: "q", queues: ["quiet"], maxTasks: 3))
            #expect(leases.count == 3)
            _ = try await source.release(leaseID: leases[1].leaseID, workerID: "q")
            let errors = try await source.complete(
                leases: leases.map { LeaseCompletion(leaseID: $0.leaseID, result: try? RawJSON(validating: #"{"ok":1}"#)) })
            #expect(errors.count == 3)
            #expect(errors[0] == nil && errors[2] == nil)
            #expect((errors[1] as? SwitchboardError)?.kind == .conflict)
            #expect(try await client.task(id: leases[0].task.id).result == (try RawJSON(validating: #"{"ok":1}"#)))
            #expect(try await client.task(id: leases[1].task.id).status == .pending)
        }
    }

    @Test("a remote source carries completions on a lease call: one answer each, in order, and the new leases")
    func remoteSourceCarries() async throws {
        try await withClient { client in
            let source = RemoteTaskSource(client: client)
            _ = try await client.enqueue(batch: (0..<3).map { _ in TaskSubmission(queue: "carry", type: "t", payload: .emptyObject) })
            let leases = try await source.lease(LeaseRequest(workerID: "c", queues: ["carry"], maxTasks: 2))
            _ = try await source.release(leaseID: leases[1].leaseID, workerID: "c")
            let answer = try await source.lease(
                LeaseRequest(workerID: "c", queues: ["carry"], maxTasks: 5),
                completing: leases.map { LeaseCompletion(leaseID: $0.leaseID, result: try? RawJSON(validating: "[7]")) })
            #expect(answer.completions.count == 2)
            #expect(answer.completions[0] == nil)
            #expect((answer.completions[1] as? SwitchboardError)?.kind == .conflict, "a released lease is stale")
            #expect(answer.leases.count == 2, "the released task and the third one")
            #expect(try await client.task(id: leases[0].task.id).result == (try RawJSON(validating: "[7]")))
            let plain = try await client.lease(LeaseRequest(workerID: "c", queues: ["carry"], maxTasks: 1), completing: [])
            #expect(plain.leases.isEmpty && plain.completions.isEmpty)
        }
    }

    @Test("locks: acquire, refused while held, renew, release; dlq and queues")
    func locksAndOperators() async throws {
        try await withClient { client in
            let lease = try #require(try await client.acquireLock(key: "repo 1", holder: "a", ttl: .seconds(10)))
            #expect(try await client.acquireLock(key: "repo 1", holder: "b", ttl: .seconds(10)) == nil)
            #expect(try await client.lock(key: "repo 1")?.holder == "a")
            #expect(try await client.renewLock(key: "repo 1", holder: "a", token: lease.token, ttl: .seconds(20)).token == lease.token)
            #expect(try await client.locks().map(\.key) == ["repo 1"])
            try await client.releaseLock(key: "repo 1", holder: "a", token: lease.token)
            #expect(try await client.lock(key: "repo 1") == nil)
            await #expect(throws: ProblemError.self) { try await client.releaseLock(key: "repo 1", holder: "a", token: lease.token) }

            #expect(try await client.pause(queue: "ops").paused)
            #expect(try await client.queues().first { $0.name == "ops" }?.paused == true)
            #expect(try await client.resume(queue: "ops").paused == false)
            #expect(try await client.requeueDead(queue: "ops") == 0)
            #expect(try await client.purgeDead(queue: "ops") == 0)
        }
    }
}

/// The client's retry rules against a server that answers 503 a set number of times.
@Suite("Client retries", .timeLimit(.minutes(1)))
struct ClientRetryTests {
    final class Flaky: Sendable {
        let failuresLeft: Mutex<Int>
        let calls = Mutex(0)

        init(failures: Int) { failuresLeft = Mutex(failures) }

        func answer() -> Response {
            calls.withLock { $0 += 1 }
            let fail = failuresLeft.withLock { left in
                defer { left -= 1 }
                return left > 0
            }
            guard !fail else {
                return Response(
                    status: .serviceUnavailable, headers: [.contentType: "application/problem+json"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"Redis is restarting"}"#)))
            }
            return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"items":[]}"#)))
        }
    }

    func withFlakyServer(failures: Int, _ body: @escaping @Sendable (APIClient, Flaky) async throws -> Void) async throws {
        let flaky = Flaky(failures: failures)
        let router = Router()
        router.get("/v1/queues") { _, _ in flaky.answer() }
        router.post("/v1/tasks/batch") { _, _ in flaky.answer() }
        let app = Application(router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            var configuration = APIClient.Configuration(baseURL: "http://127.0.0.1:\(port)")
            configuration.retryBase = .milliseconds(1)
            try await body(try APIClient(configuration), flaky)
        }
    }

    @Test("a repeatable call is tried again through 503s, up to its retries")
    func repeatableRetried() async throws {
        try await withFlakyServer(failures: 2) { client, flaky in
            let queues = try await client.queues()
            #expect(queues.isEmpty)
            #expect(flaky.calls.withLock { $0 } == 3)
        }
        try await withFlakyServer(failures: 10) { client, flaky in
            await #expect(throws: ProblemError.self) { try await client.queues() }
            #expect(flaky.calls.withLock { $0 } == 4, "one call and three retries")
        }
    }

    @Test("a call that could do the work twice is not repeated; the problem comes back as sent")
    func notRepeatable() async throws {
        try await withFlakyServer(failures: 1) { client, flaky in
            do {
                _ = try await client.enqueue(batch: [TaskSubmission(payload: .emptyObject)])
                Issue.record("expected the 503")
            } catch let problem as ProblemError {
                #expect(problem.status == 503 && problem.detail == "Redis is restarting")
                #expect(problem.switchboardError?.kind == .unavailable)
            }
            #expect(flaky.calls.withLock { $0 } == 1)
        }
    }
}
