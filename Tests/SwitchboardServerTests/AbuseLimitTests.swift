import Foundation
import HTTPTypes
import HummingbirdTesting
import SwitchboardAuth
import SwitchboardCore
import SwitchboardJSON
import SwitchboardServer
import Testing
import Yams

@Suite("Abuse limits and the contract's security", .timeLimit(.minutes(1)))
struct AbuseLimitTests {
    @Test("a queue at its depth limit refuses enqueues with 429 and Retry-After until it drains; other queues are unaffected")
    func queueDepth() async throws {
        let h = ServerHarness { $0.admission.maxQueueDepth = 2 }
        try await h.test { client in
            #expect(try await client.call(.post, "/v1/tasks", json: echoTask).status == .created)
            #expect(try await client.call(.post, "/v1/tasks", json: echoTask).status == .created)
            let full = try await client.call(.post, "/v1/tasks", json: echoTask)
            expectProblem(full, .tooManyRequests, mentioning: "queue default holds 2 waiting tasks")
            #expect(full.headers[.retryAfter] == "1")
            let batch = #"{"items": [{"queue": "other", "payload": 1, "type": "x"}, {"queue": "other", "payload": 1, "type": "x"}, {"queue": "other", "payload": 1, "type": "x"}]}"#
            expectProblem(try await client.call(.post, "/v1/tasks/batch", json: batch), .tooManyRequests, mentioning: "other")
            #expect(try await client.call(.post, "/v1/tasks", json: #"{"queue": "other", "payload": {"tool_name": "echo"}}"#).status == .created)
            #expect(try await h.engine.list(TaskFilter(), page: PageRequest(limit: 10)).items.count == 3)
            // A leased task no longer waits: the next enqueue finds room (the depth is read again).
            _ = try await h.engine.lease(LeaseRequest(workerID: "w"))
            #expect(try await client.call(.post, "/v1/tasks", json: echoTask).status == .created)
            expectProblem(try await client.call(.post, "/v1/tasks", json: echoTask), .tooManyRequests)
        }
    }

    @Test("new queue names and task types beyond the bounds are 422; known ones keep working")
    func cardinality() async throws {
        let h = ServerHarness {
            $0.admission.maxQueueNames = 2
            $0.admission.maxTaskTypes = 2
        }
        try await h.test { client in
            func enqueue(_ queue: String, _ type: String) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: JSONBody?) {
                try await client.call(.post, "/v1/tasks", json: #"{"queue": "\#(queue)", "type": "\#(type)", "payload": 1}"#)
            }
            #expect(try await enqueue("a", "x").status == .created)
            #expect(try await enqueue("b", "y").status == .created)
            expectProblem(try await enqueue("c", "x"), .unprocessableContent, mentioning: "queue c")
            expectProblem(try await enqueue("a", "z"), .unprocessableContent, mentioning: "type z")
            let batch = #"{"items": [{"queue": "a", "payload": 1, "type": "x"}, {"queue": "d", "payload": 1, "type": "x"}]}"#
            expectProblem(try await client.call(.post, "/v1/tasks/batch", json: batch), .unprocessableContent, mentioning: "queue d")
            #expect(try await enqueue("b", "x").status == .created)
            #expect(try await h.engine.list(TaskFilter(), page: PageRequest(limit: 10)).items.count == 3)
        }
    }

    @Test("openapi.yaml declares every route's scopes exactly as the server applies them, and the bearer scheme")
    func contractSecurity() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        let schemes = try #require((document["components"] as? [String: Any])?["securitySchemes"] as? [String: Any])
        #expect((schemes["bearer"] as? [String: Any])?["scheme"] as? String == "bearer")
        #expect((schemes["clientCertificate"] as? [String: Any])?["type"] as? String == "mutualTLS")
        let paths = try #require(document["paths"] as? [String: Any])
        let routes = ServerHarness().server.routeAccess()
        var documented = 0
        for (path, item) in paths {
            for (method, value) in item as? [String: Any] ?? [:] {
                guard let operation = value as? [String: Any] else { continue }
                documented += 1
                let routePath = path.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: "")
                let route = routes.first { $0.path == routePath && $0.method == method.uppercased() }
                guard let route else {
                    Issue.record("\(method) \(path) is in openapi.yaml but not served")
                    continue
                }
                let security = try #require(operation["security"] as? [[String: [String]]], "\(method) \(path) has no security")
                let responses = operation["responses"] as? [String: Any] ?? [:]
                #expect(responses["421"] != nil, "\(method) \(path) lists 421")
                if let scopes = route.scopes {
                    let expected = Set(scopes.map(\.rawValue) + ["admin"])
                    #expect(security.count == 2, "\(method) \(path): bearer and client certificate")
                    for requirement in security {
                        for (_, roles) in requirement { #expect(Set(roles) == expected, "\(method) \(path): \(roles) vs \(expected.sorted())") }
                    }
                    for code in ["401", "403", "429"] { #expect(responses[code] != nil, "\(method) \(path) lists \(code)") }
                } else {
                    #expect(security.isEmpty, "\(method) \(path) is open")
                }
                if ["post", "delete"].contains(method) { #expect(responses["415"] != nil, "\(method) \(path) lists 415") }
            }
        }
        #expect(documented == routes.count, "every served route is documented")
    }
}
