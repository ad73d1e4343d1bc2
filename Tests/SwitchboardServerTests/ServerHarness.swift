import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwitchboardCore
import SwitchboardServer
import Testing

/// A server on a manual clock with its own metrics registry, tested through HummingbirdTesting.
struct ServerHarness {
    let clock = ManualClock()
    let server: SwitchboardServer

    init(maxBodyBytes: Int = 1 << 20, configure: (inout EngineConfiguration) -> Void = { _ in }) {
        let metrics = ServerMetrics()
        var configuration = EngineConfiguration()
        configuration.retry = RetryPolicy(jitter: { $0 })
        configure(&configuration)
        let engine = TaskEngine.memory(configuration: configuration, clock: clock, metricsFactory: metrics.factory)
        var settings = ServerSettings()
        settings.maxBodyBytes = maxBodyBytes
        server = SwitchboardServer(
            engine: engine, locks: MeteredLockService(MemoryLockService(clock: clock), metricsFactory: metrics.factory),
            metrics: metrics, settings: settings)
    }

    var engine: TaskEngine { server.engine }

    func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: server.router())
        try await app.test(.router) { client in try await body(client) }
    }
}

/// A parsed JSON response.
struct JSONBody: @unchecked Sendable {
    let value: Any

    init(_ buffer: ByteBuffer) throws {
        value = try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView), options: [.fragmentsAllowed])
    }

    subscript(key: String) -> Any? { (value as? [String: Any])?[key] }
    var object: [String: Any] { value as? [String: Any] ?? [:] }
    var items: [[String: Any]] { self["items"] as? [[String: Any]] ?? [] }
    func string(_ key: String) -> String? { self[key] as? String }
    func int(_ key: String) -> Int? { self[key] as? Int }
}

extension TestClientProtocol {
    /// Sends `json` (a string) and returns status, headers and the parsed body.
    @discardableResult
    func call(
        _ method: HTTPRequest.Method, _ uri: String, json: String? = nil, headers: HTTPFields = [:]
    ) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: JSONBody?) {
        var fields = headers
        if json != nil { fields[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: fields, body: json.map { ByteBuffer(string: $0) }) { response in
            let body = response.body.readableBytes > 0 ? try? JSONBody(response.body) : nil
            return (response.status, response.headers, body)
        }
    }
}

/// Checks the RFC 9457 shape of an error response.
func expectProblem(
    _ response: (status: HTTPResponse.Status, headers: HTTPFields, body: JSONBody?), _ status: HTTPResponse.Status,
    mentioning: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(response.status == status, sourceLocation: sourceLocation)
    #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
    let body = response.body
    #expect(body?.int("status") == status.code, sourceLocation: sourceLocation)
    #expect(body?.string("title") == status.reasonPhrase, sourceLocation: sourceLocation)
    #expect(body?.string("type") == "about:blank", sourceLocation: sourceLocation)
    let detail = body?.string("detail") ?? ""
    #expect(!detail.isEmpty, sourceLocation: sourceLocation)
    if let mentioning {
        #expect(detail.contains(mentioning), "\(detail)", sourceLocation: sourceLocation)
    }
}

let echoTask = #"{"payload": {"tool_name": "echo", "input": {"x": 1}}}"#
