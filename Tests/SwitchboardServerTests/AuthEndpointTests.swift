import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import SwitchboardAuth
import SwitchboardCore
import SwitchboardJSON
import SwitchboardServer
import Synchronization
import Testing

/// Tokens for each scope, one limited to a queue, one with a tiny rate.
struct TestTokens {
    static let viewer = "sbt_viewer-token"
    static let producer = "sbt_producer-token"
    static let worker = "sbt_worker-token"
    static let `operator` = "sbt_operator-token"
    static let admin = "sbt_admin-token"
    static let billingProducer = "sbt_billing-producer"
    static let billingOperator = "sbt_billing-operator"
    static let twoQueueOperator = "sbt_two-queue-operator"
    static let billingWorker = "sbt_billing-worker"
    static let slow = "sbt_slow"
    static let expired = "sbt_expired"

    static let byScope: [Scope: String] = [.viewer: viewer, .producer: producer, .worker: worker, .operator: `operator`, .admin: admin]

    static var file: String {
        func line(_ name: String, _ token: String, _ scopes: String, _ extra: String = "") -> String {
            "  - {name: \(name), sha256: \(TokenGenerator.sha256Hex(of: token)), scopes: [\(scopes)]\(extra)}"
        }
        return """
            tokens:
            \(line("viewer", viewer, "viewer"))
            \(line("producer", producer, "producer"))
            \(line("worker", worker, "worker"))
            \(line("operator", `operator`, "operator"))
            \(line("admin", admin, "admin"))
            \(line("billing-producer", billingProducer, "producer", ", queues: [billing]"))
            \(line("billing-operator", billingOperator, "operator", ", queues: [billing]"))
            \(line("two-queue-operator", twoQueueOperator, "operator", ", queues: [billing, reports]"))
            \(line("billing-worker", billingWorker, "worker", ", queues: [billing]"))
            \(line("slow", slow, "viewer", ", rate_limit: 0.05, burst: 2"))
            \(line("expired", expired, "admin", ", expires: \"2020-01-01T00:00:00Z\""))
            """
    }

    static func security(audit: Logger = Logger(label: "test.audit"), openMetrics: Bool = false) throws -> SecuritySettings {
        var security = SecuritySettings()
        security.authenticator = Authenticator(
            tokens: TokenStore(entries: try TokenFile.parse(file, origin: "test")), jwt: nil, certificateScopes: nil, defaultRateLimit: nil)
        security.auditLogger = audit
        security.openMetrics = openMetrics
        return security
    }
}

func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

@Suite("Auth: scopes, queues, rates, audit", .timeLimit(.minutes(1)))
struct AuthEndpointTests {
    @Test("every route answers 401 without a token and 403 to a scope it does not name; the scopes it names (and admin) get in")
    func everyRouteEveryScope() async throws {
        let h = ServerHarness(security: try TestTokens.security())
        let routes = h.server.routeAccess()
        #expect(routes.count >= 30)
        try await h.test { client in
            for route in routes {
                let uri = route.path.replacingOccurrences(of: ":id", with: "t-1").replacingOccurrences(of: ":run_id", with: "r-1")
                    .replacingOccurrences(of: ":name", with: "q").replacingOccurrences(of: ":lease_id", with: "l-1")
                    .replacingOccurrences(of: ":key", with: "k")
                let method = HTTPRequest.Method(route.method)!
                // A body where one is read, so that getting in is told by the status, not a crash.
                let json: String? = method == .get ? nil : #"{"wait_ms": 0}"#
                let anonymous = try await client.call(method, uri, json: json)
                guard let scopes = route.scopes else {
                    #expect(anonymous.status != .unauthorized && anonymous.status != .forbidden, "\(route.method) \(route.path) is open")
                    continue
                }
                expectProblem(anonymous, .unauthorized, mentioning: "credentials")
                #expect(anonymous.headers[.wwwAuthenticate] == #"Bearer realm="switchboard""#)
                for (scope, token) in TestTokens.byScope {
                    let answer = try await client.call(method, uri, json: json, headers: bearer(token))
                    if scope == .admin || scopes.contains(scope) {
                        #expect(
                            answer.status != .unauthorized && answer.status != .forbidden,
                            "\(scope) may \(route.method) \(route.path): \(answer.status)")
                    } else {
                        expectProblem(answer, .forbidden, mentioning: "needs one of the scopes")
                        #expect(answer.headers[.wwwAuthenticate]?.contains(#"error="insufficient_scope""#) == true)
                    }
                }
            }
        }
    }

    @Test("a bad or expired token is 401 with invalid_token; health, the contract and the page stay open")
    func badTokens() async throws {
        let h = ServerHarness(security: try TestTokens.security())
        try await h.test { client in
            for token in ["sbt_nope", TestTokens.expired, ""] {
                let answer = try await client.call(.get, "/v1/tasks", headers: [.authorization: "Bearer \(token)"])
                expectProblem(answer, .unauthorized)
                #expect(answer.headers[.wwwAuthenticate]?.hasPrefix(#"Bearer realm="switchboard", error="invalid_token""#) == true)
                #expect(answer.body.map { !($0.string("detail") ?? "").contains("sbt_") } ?? false, "the token is never echoed")
            }
            expectProblem(try await client.call(.get, "/v1/tasks", headers: [.authorization: "Basic dXNlcjpwYXNz"]), .unauthorized, mentioning: "bearer")
            #expect(try await client.call(.get, "/v1/tasks", headers: [.authorization: "bearer \(TestTokens.viewer)"]).status == .ok)
            #expect(try await client.call(.get, "/healthz", headers: bearer("sbt_nope")).status == .ok)
            #expect(try await client.call(.get, "/healthz").status == .ok)
            #expect(try await client.execute(uri: "/", method: .get) { $0.status } == .ok)
            expectProblem(try await client.call(.get, "/metrics"), .unauthorized)
            #expect(try await client.call(.get, "/metrics", headers: bearer(TestTokens.viewer)).status == .ok)
        }
        let open = ServerHarness(security: try TestTokens.security(openMetrics: true))
        try await open.test { client in
            #expect(try await client.call(.get, "/metrics").status == .ok)
            expectProblem(try await client.call(.get, "/readyz"), .unauthorized)
        }
    }

    @Test("a producer limited to billing enqueues and reads there only; elsewhere 403, and nothing is stored")
    func queueLimitedProducer() async throws {
        let h = ServerHarness(security: try TestTokens.security())
        let other = try await h.engine.enqueue(TaskSubmission(queue: "default", type: "job", runID: "run-1", payload: .null)).task
        try await h.test { client in
            let token = bearer(TestTokens.billingProducer)
            expectProblem(try await client.call(.post, "/v1/tasks", json: echoTask, headers: token), .forbidden, mentioning: "billing")
            let mine = try await client.call(
                .post, "/v1/tasks", json: #"{"queue": "billing", "run_id": "run-1", "payload": {"tool_name": "echo"}}"#, headers: token)
            #expect(mine.status == .created)
            let mineID = try #require(mine.body?.string("id"))
            let batch = #"{"items": [{"queue": "billing", "payload": 1, "type": "x"}, {"payload": 1, "type": "x"}]}"#
            expectProblem(try await client.call(.post, "/v1/tasks/batch", json: batch, headers: token), .forbidden)
            #expect(try await h.engine.list(TaskFilter(), page: PageRequest(limit: 10)).items.count == 2, "the batch stored nothing")

            #expect(try await client.call(.get, "/v1/tasks/\(mineID)", headers: token).status == .ok)
            expectProblem(try await client.call(.get, "/v1/tasks/\(other.id)", headers: token), .forbidden)
            expectProblem(try await client.call(.post, "/v1/tasks/\(other.id)/cancel", headers: token), .forbidden)
            #expect(try await h.engine.task(id: other.id).status == .pending)
            let listed = try await client.call(.get, "/v1/tasks", headers: token)
            #expect(listed.body?.items.compactMap { $0["id"] as? String } == [mineID], "a one-queue token lists its queue")
            expectProblem(try await client.call(.get, "/v1/tasks?queue=default", headers: token), .forbidden)
            let run = try await client.call(.get, "/v1/runs/run-1", headers: token)
            #expect((run.body?["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [mineID])
            #expect((run.body?["counts"] as? [String: Int])?["pending"] == 1)
            let runs = try await client.call(.get, "/v1/runs", headers: token)
            #expect(runs.body?.items.compactMap { $0["run_id"] as? String } == ["run-1"])
            #expect(runs.body?.items.first?["queues"] as? [String] == ["billing"], "counts of its queues only")
            #expect(runs.body?.items.first?["total"] as? Int == 1)
            expectProblem(try await client.call(.get, "/v1/runs"), .unauthorized)
            #expect(try await client.call(.post, "/v1/tasks/\(mineID)/cancel", headers: token).status == .ok)
        }
    }

    @Test("operators and workers limited to queues act there only")
    func queueLimitedOperatorsAndWorkers() async throws {
        let h = ServerHarness(security: try TestTokens.security())
        for queue in ["billing", "default"] {
            _ = try await h.engine.enqueue(TaskSubmission(queue: queue, type: "job", payload: .null))
            let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w", queues: [queue])).first)
            _ = try await h.engine.fail(leaseID: lease.leaseID, failure: TaskFailureReport(message: "broken", retryable: false))
        }
        let deadDefault = try #require(try await h.engine.deadLetters(queue: "default", page: PageRequest(limit: 1)).items.first)
        try await h.test { client in
            let billing = bearer(TestTokens.billingOperator)
            #expect(try await client.call(.get, "/v1/dlq", headers: billing).body?.items.count == 1)
            #expect(try await client.call(.get, "/v1/queues", headers: billing).body?.items.compactMap { $0["name"] as? String } == ["billing"])
            expectProblem(try await client.call(.post, "/v1/dlq/\(deadDefault.id)/requeue", headers: billing), .forbidden)
            expectProblem(try await client.call(.delete, "/v1/dlq/\(deadDefault.id)", headers: billing), .forbidden)
            // By ids: one task of another queue refuses the whole call.
            expectProblem(
                try await client.call(.post, "/v1/dlq/requeue", json: #"{"ids": ["\#(deadDefault.id)"]}"#, headers: billing), .forbidden)
            expectProblem(
                try await client.call(.post, "/v1/dlq/delete", json: #"{"ids": ["\#(deadDefault.id)"]}"#, headers: billing), .forbidden)
            expectProblem(try await client.call(.post, "/v1/queues/default/pause", headers: billing), .forbidden)
            expectProblem(try await client.call(.delete, "/v1/dlq?queue=default", headers: billing), .forbidden)
            #expect(try await client.call(.post, "/v1/dlq/requeue", headers: billing).body?.int("requeued") == 1, "its own queue only")
            #expect(try await h.engine.task(id: deadDefault.id).status == .dead)
            let two = bearer(TestTokens.twoQueueOperator)
            expectProblem(try await client.call(.delete, "/v1/dlq", headers: two), .forbidden, mentioning: "?queue=")
            #expect(try await client.call(.delete, "/v1/dlq?queue=reports", headers: two).status == .ok)

            let worker = bearer(TestTokens.billingWorker)
            expectProblem(try await client.call(.post, "/v1/leases", json: #"{"worker_id": "w1"}"#, headers: worker), .forbidden)
            expectProblem(
                try await client.call(.post, "/v1/leases", json: #"{"worker_id": "w1", "queues": ["billing", "default"]}"#, headers: worker),
                .forbidden)
            let leased = try await client.call(.post, "/v1/leases", json: #"{"worker_id": "w1", "queues": ["billing"]}"#, headers: worker)
            #expect(leased.status == .ok && leased.body?.items.count == 1)
        }
    }

    @Test("a token over its rate gets 429 with Retry-After; others are unaffected")
    func rateLimit() async throws {
        let h = ServerHarness(security: try TestTokens.security())
        try await h.test { client in
            let slow = bearer(TestTokens.slow)
            #expect(try await client.call(.get, "/v1/queues", headers: slow).status == .ok)
            #expect(try await client.call(.get, "/v1/queues", headers: slow).status == .ok)
            let limited = try await client.call(.get, "/v1/queues", headers: slow)
            expectProblem(limited, .tooManyRequests, mentioning: "slow")
            // One request per 20 s after the burst: slow enough that a loaded machine does not
            // refill the bucket between these requests (the limiter runs on real time).
            #expect(limited.headers[.retryAfter].flatMap(Int.init).map { (15...20).contains($0) } == true)
            #expect(try await client.call(.get, "/v1/queues", headers: bearer(TestTokens.viewer)).status == .ok)
        }
    }

    @Test("administrative actions are audited with the token's name, target and outcome, never the token")
    func audit() async throws {
        let lines = RecordedLines()
        var logger = Logger(label: "test.audit") { _ in RecordingHandler(lines: lines) }
        logger.logLevel = .info
        let h = ServerHarness(security: try TestTokens.security(audit: logger))
        let dead = try await h.engine.enqueue(TaskSubmission(type: "job", payload: .null)).task
        let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w")).first)
        _ = try await h.engine.fail(leaseID: lease.leaseID, failure: TaskFailureReport(message: "broken", retryable: false))
        let pending = try await h.engine.enqueue(TaskSubmission(type: "job", payload: .null)).task
        try await h.test { client in
            let op = bearer(TestTokens.operator)
            _ = try await client.call(.post, "/v1/dlq/\(dead.id)/requeue", headers: op)
            _ = try await client.call(.post, "/v1/queues/default/pause", headers: op)
            _ = try await client.call(.post, "/v1/queues/default/resume", headers: op)
            _ = try await client.call(.post, "/v1/tasks/\(pending.id)/cancel", headers: op)
            _ = try await client.call(.delete, "/v1/dlq?queue=default", headers: op)
            _ = try await client.call(.post, "/v1/dlq/requeue", headers: bearer(TestTokens.producer))
            // A worker's own lock release is routine; an operator's is audited.
            let lock = try await client.call(
                .post, "/v1/locks/k/acquire", json: #"{"holder": "h", "ttl_ms": 60000}"#, headers: bearer(TestTokens.worker))
            let token = try #require(lock.body?.int("token"))
            _ = try await client.call(.post, "/v1/locks/k/release", json: #"{"holder": "h", "token": \#(token)}"#, headers: bearer(TestTokens.worker))
            _ = try await client.call(.post, "/v1/locks/k/release", json: #"{"holder": "h", "token": \#(token)}"#, headers: op)
        }
        let recorded = lines.all
        func line(_ action: String, _ principal: String) -> [String: String]? {
            recorded.first { $0["action"] == action && $0["principal"] == principal }
        }
        #expect(line("dlq.requeue", "operator")?["target"] == "/v1/dlq/\(dead.id)/requeue")
        #expect(line("dlq.requeue", "operator")?["outcome"] == "ok")
        #expect(line("queue.pause", "operator")?["target"] == "/v1/queues/default/pause")
        #expect(line("queue.resume", "operator") != nil)
        #expect(line("task.cancel", "operator")?["target"] == "/v1/tasks/\(pending.id)/cancel")
        #expect(line("dlq.purge", "operator")?["filter"] == "queue=default")
        #expect(line("dlq.requeue_all", "producer")?["outcome"] == "refused")
        #expect(line("dlq.requeue_all", "producer")?["status"] == "403")
        #expect(line("lock.release", "operator")?["status"] == "409", "the lock was already released: refused, and audited")
        #expect(line("lock.release", "worker") == nil)
        #expect(recorded.count == 7)
        for entry in recorded {
            #expect(!entry.values.contains { $0.contains("sbt_") }, "no token in \(entry)")
        }
    }
}

/// Log lines as flat dictionaries (message under "message").
final class RecordedLines: Sendable {
    private let lines = Mutex<[[String: String]]>([])

    func append(_ line: [String: String]) { lines.withLock { $0.append(line) } }
    var all: [[String: String]] { lines.withLock { $0 } }
}

struct RecordingHandler: LogHandler {
    let lines: RecordedLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = ["message": event.message.description]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { line[key] = value.description }
        lines.append(line)
    }
}
