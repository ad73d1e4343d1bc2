import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import SwitchboardCore
import SwitchboardJSON
import SwitchboardServer
import SwitchboardTesting
import Testing

/// A server on a manual clock with its own metrics registry, tested through HummingbirdTesting.
struct ServerHarness {
    let clock = ManualClock()
    let server: ControlPlane

    init(
        maxBodyBytes: Int = 1 << 20, security: SecuritySettings = SecuritySettings(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        backend: (any TaskBackend)? = nil,
        configure: (inout EngineConfiguration) -> Void = { _ in },
        settings configureSettings: (inout ServerSettings) -> Void = { _ in }
    ) {
        let metrics = ServerMetrics()
        var configuration = EngineConfiguration()
        configuration.retry = RetryPolicy(jitter: { $0 })
        configure(&configuration)
        let clock = clock
        let engine =
            backend.map { TaskEngine(backend: $0, configuration: configuration, clock: clock, metricsFactory: metrics.factory) }
            ?? TaskEngine.memory(configuration: configuration, clock: clock, metricsFactory: metrics.factory)
        var settings = ServerSettings()
        settings.maxBodyBytes = maxBodyBytes
        settings.security = security
        configureSettings(&settings)
        server = ControlPlane(
            engine: engine, locks: MeteredLockService(MemoryLockService(clock: clock), metricsFactory: metrics.factory, events: engine.events, clock: clock),
            metrics: metrics, settings: settings, eventLoopGroup: eventLoopGroup)
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

extension ServerHarness {
    /// The server as `serve` runs it (the real HTTP server, on a loopback port), for what needs a
    /// socket: Host headers as sent, connections, TLS.
    func testLive(_ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        try await testHTTP { client in try await body(try #require(client.port)) }
    }

    /// The long-poll routes through the very HTTP stack `serve` runs (its channel handlers, its
    /// request context with the connection), with HummingbirdTesting's live client.
    func testHTTP(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(
            router: server.router(), server: server.httpServer,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            eventLoopGroupProvider: .shared(server.eventLoopGroup))
        try await app.test(.live) { client in try await body(client) }
    }
}

extension TestClientProtocol {
    /// Sends `body` with exactly `headers` (no Content-Type added).
    @discardableResult
    func call(
        _ method: HTTPRequest.Method, _ uri: String, body: String, headers: HTTPFields
    ) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: JSONBody?) {
        try await execute(uri: uri, method: method, headers: headers, body: ByteBuffer(string: body)) { response in
            (response.status, response.headers, response.body.readableBytes > 0 ? try? JSONBody(response.body) : nil)
        }
    }
}

/// Writes `request` on a new connection and reads until the answer is whole (its head and a
/// Content-Length body) or the server closes; what the server sent, as text.
func rawExchange(port: Int, _ request: String, timeout: Duration = .seconds(10)) async throws -> String {
    let collected = RawCollector()
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collected) } }
        .connect(host: "127.0.0.1", port: port).get()
    try await channel.writeAndFlush(ByteBuffer(string: request))
    let deadline = ContinuousClock.now + timeout
    while !collected.isComplete, channel.isActive, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
    try? await channel.close()
    return collected.text
}

final class RawCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let lock = NSLock()
    private var bytes: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        lock.withLock { bytes += buffer.readableBytesView }
    }

    var text: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }

    var isComplete: Bool {
        let text = self.text
        guard let end = text.range(of: "\r\n\r\n") else { return false }
        let head = text[..<end.lowerBound].lowercased()
        guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
            let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
        else { return true }
        return text.utf8.count - text[..<end.upperBound].utf8.count >= length
    }
}
