import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwitchboardCore
import SwitchboardJSON
import SwitchboardServer
import Testing

@Suite("Browser safety, with or without auth", .timeLimit(.minutes(1)))
struct BrowserSafetyTests {
    let h = ServerHarness()

    @Test("a form-style text/plain post is 415 and stores nothing")
    func textPlainEnqueue() async throws {
        try await h.test { client in
            let refused = try await client.execute(
                uri: "/v1/tasks", method: .post, headers: [.contentType: "text/plain"],
                body: ByteBuffer(string: #"{"payload":{"tool_name":"echo"}}"#)
            ) { response in (response.status, response.headers, try? JSONBody(response.body)) }
            expectProblem(refused, .unsupportedMediaType, mentioning: "application/json")
            for type in ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"] {
                let other = try await client.call(.post, "/v1/tasks", body: #"{"payload":{"tool_name":"echo"}}"#, headers: [.contentType: type])
                expectProblem(other, .unsupportedMediaType)
            }
            let untyped = try await client.call(.post, "/v1/tasks", body: #"{"payload":{"tool_name":"echo"}}"#, headers: [:])
            expectProblem(untyped, .unsupportedMediaType, mentioning: "no Content-Type")
            #expect(try await client.call(.get, "/v1/tasks").body?.items.isEmpty == true)
            // JSON in any spelling of its media type is taken.
            for type in ["application/json", "application/json; charset=utf-8", "Application/JSON"] {
                let taken = try await client.call(.post, "/v1/tasks", body: #"{"payload":{"tool_name":"echo"}}"#, headers: [.contentType: type])
                #expect(taken.status == .created, "\(type)")
            }
        }
    }

    @Test("a state-changing request from a foreign Origin is 403 and changes nothing; its GETs get no CORS headers")
    func foreignOrigin() async throws {
        let dead = try await bury()
        try await h.test { client in
            let evil: HTTPFields = [.origin: "http://evil.example"]
            expectProblem(try await client.call(.delete, "/v1/dlq", headers: evil), .forbidden, mentioning: "http://evil.example")
            expectProblem(try await client.call(.post, "/v1/dlq/\(dead)/requeue", headers: evil), .forbidden)
            expectProblem(try await client.call(.post, "/v1/tasks", json: echoTask, headers: evil), .forbidden)
            expectProblem(try await client.call(.post, "/v1/queues/default/pause", headers: [.origin: "null"]), .forbidden)
            // A port of the same host is another origin.
            expectProblem(try await client.call(.post, "/v1/tasks", json: echoTask, headers: [.origin: "http://localhost:3000"]), .forbidden)
            #expect(try await h.engine.task(id: dead).status == .dead)
            #expect(try await client.call(.get, "/v1/queues").body?.items.allSatisfy { $0["paused"] as? Bool == false } == true)
            let read = try await client.call(.get, "/v1/dlq", headers: evil)
            #expect(read.status == .ok, "reading is harmless: without CORS headers the page cannot see the answer")
            #expect(read.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test("Sec-Fetch-Site: cross-site refuses state changes without an Origin; same-origin pages and curl keep working")
    func crossSiteAndOwnOrigin() async throws {
        try await h.test { client in
            expectProblem(
                try await client.call(.post, "/v1/dlq/requeue", headers: [.init("Sec-Fetch-Site")!: "cross-site"]), .forbidden,
                mentioning: "cross-site")
            #expect(try await client.call(.get, "/v1/tasks", headers: [.init("Sec-Fetch-Site")!: "cross-site"]).status == .ok)
            // The dashboard: same origin (the router test's Host is localhost).
            let page = try await client.call(
                .post, "/v1/tasks", json: echoTask, headers: [.origin: "http://localhost", .init("Sec-Fetch-Site")!: "same-origin"])
            #expect(page.status == .created)
            #expect(page.headers[.accessControlAllowOrigin] == nil, "no CORS headers for the server's own origin")
            // curl: no Origin, no body type needed where there is no body.
            #expect(try await client.call(.post, "/v1/queues/reports/pause").status == .ok)
            #expect(try await client.call(.post, "/v1/queues/reports/resume", body: "", headers: [:]).status == .ok)
        }
    }

    @Test("allowed origins get CORS preflights and headers; others are refused")
    func cors() async throws {
        var security = SecuritySettings()
        security.allowedOrigins = ["https://ops.example.com"]
        let h = ServerHarness(security: security)
        try await h.test { client in
            let preflight = try await client.call(
                .options, "/v1/tasks",
                headers: [.origin: "https://ops.example.com", .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "content-type, authorization"])
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://ops.example.com")
            #expect(preflight.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)
            #expect(preflight.headers[.accessControlAllowMethods]?.contains("POST") == true)
            let created = try await client.call(.post, "/v1/tasks", json: echoTask, headers: [.origin: "https://ops.example.com"])
            #expect(created.status == .created)
            #expect(created.headers[.accessControlAllowOrigin] == "https://ops.example.com")
            #expect(created.headers[.accessControlExposeHeaders]?.contains("Location") == true)
            let problem = try await client.call(.post, "/v1/tasks", json: "{", headers: [.origin: "https://ops.example.com"])
            #expect(problem.status == .badRequest && problem.headers[.accessControlAllowOrigin] == "https://ops.example.com")
            expectProblem(
                try await client.call(.options, "/v1/tasks", headers: [.origin: "https://evil.example", .accessControlRequestMethod: "POST"]),
                .forbidden, mentioning: "--allowed-origins")
        }
    }

    @Test("Host must name the server: loopback, the bound address, or an allowed host (421 otherwise)")
    func hosts() async throws {
        var security = SecuritySettings()
        security.allowedHosts = ["switchboard.internal"]
        let h = ServerHarness(security: security)
        try await h.testLive { port in
            for host in ["localhost", "127.0.0.1", "127.0.0.2", "[::1]", "localhost.", "switchboard.internal", "SwitchBoard.Internal"] {
                #expect(try await rawStatus(port: port, "GET /v1/queues HTTP/1.1\r\nHost: \(host):\(port)\r\n\r\n") == 200, "\(host)")
            }
            for host in ["evil.example.com", "127.0.0.1.evil.example", "switchboard.internal.evil", "10.0.0.1"] {
                #expect(try await rawStatus(port: port, "GET /v1/queues HTTP/1.1\r\nHost: \(host)\r\n\r\n") == 421, "\(host)")
            }
            let before = try await h.engine.list(TaskFilter(), page: PageRequest(limit: 10)).items.count
            let body = #"{"payload":{"tool_name":"echo"}}"#
            let refused = try await rawStatus(
                port: port,
                "POST /v1/tasks HTTP/1.1\r\nHost: evil.example.com\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            #expect(refused == 421)
            #expect(try await h.engine.list(TaskFilter(), page: PageRequest(limit: 10)).items.count == before)
            #expect(try await rawStatus(port: port, "GET /v1/queues HTTP/1.0\r\n\r\n") == 421, "no Host at all")
        }
    }

    @Test("the dashboard's page is served, with or without auth")
    func dashboard() async throws {
        try await h.test { client in
            let page = try await client.execute(uri: "/", method: .get) { $0 }
            #expect(page.status == .ok)
            #expect(String(buffer: page.body).contains("<title>Switchboard</title>"))
        }
    }

    /// Enqueues a task and fails it into the dead-letter queue through the engine.
    func bury() async throws -> String {
        let task = try await h.engine.enqueue(TaskSubmission(type: "job", payload: .null)).task
        let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w")).first)
        _ = try await h.engine.fail(leaseID: lease.leaseID, failure: TaskFailureReport(message: "broken", retryable: false))
        return task.id
    }
}

/// Sends `request` as written on a fresh connection and returns the answer's status code.
func rawStatus(port: Int, _ request: String) async throws -> Int {
    let answer = try await rawExchange(port: port, request)
    guard let line = answer.split(separator: "\r\n").first, line.split(separator: " ").count >= 2,
        let code = Int(line.split(separator: " ")[1])
    else { throw RawHTTPError(answer: answer) }
    return code
}

struct RawHTTPError: Error {
    var answer: String
}
