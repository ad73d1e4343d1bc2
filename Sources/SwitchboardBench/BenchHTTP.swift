import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SwitchboardCore
import ServiceLifecycle
import SwitchboardServer
import Synchronization

/// The HTTP scenarios: a load generator of our own (keep-alive connections, one request in
/// flight each, as wrk does) against Switchboard and against the bare SwiftNIO echo server, both
/// started here, on loopback, in this process.
enum BenchHTTP {
    /// `batch` nil: single-task `POST /v1/tasks`; else `POST /v1/tasks/batch` with that many items.
    static func run(batch: Int?, quick: Bool) async throws {
        let duration: Duration = quick ? .seconds(2) : .seconds(10)
        let connections = 32
        let item = #"{"payload":{"tool_name":"echo","input":{"path":"/etc/hosts"},"reason":"bench"}}"#
        let (path, body) =
            batch.map { n in ("/v1/tasks/batch", "{\"items\":[" + Array(repeating: item, count: n).joined(separator: ",") + "]}") }
            ?? ("/v1/tasks", item)
        let perRequest = batch ?? 1

        let echo = try await startEcho()
        let echoRate = try await load(port: echo.localAddress!.port!, path: path, body: body, connections: connections, for: duration)
        try await echo.close()

        // What the framework costs before any of our work: a Hummingbird route that reads the
        // body and answers fixed bytes (the share of the gap to the echo that is not ours).
        let floorRouter = Router()
        let fixed = ByteBuffer(string: #"{"id":"01","status":"pending"}"#)
        floorRouter.post(RouterPath(path)) { request, _ -> Response in
            _ = try await request.body.collect(upTo: 1 << 20)
            return Response(status: .created, headers: [.contentType: "application/json"], body: .init(byteBuffer: fixed))
        }
        let floorRate = try await serve(floorRouter) { port in
            try await load(port: port, path: path, body: body, connections: connections, for: duration)
        }

        let metrics = ServerMetrics()
        let server = ControlPlane(
            engine: TaskEngine.memory(metricsFactory: metrics.factory), locks: MemoryLockService(), metrics: metrics,
            settings: ServerSettings(), eventLoopGroup: BenchScenarios.serverLoops)
        let start = ContinuousClock.now
        let rate = try await serve(server.router(context: SwitchboardRequestContext.self), server: server.httpServer, group: server.eventLoopGroup) { port in
            try await load(port: port, path: path, body: body, connections: connections, for: duration)
        }
        let seconds = BenchScenarios.seconds(since: start)
        BenchResult(
            scenario: batch == nil ? "http-enqueue" : "http-batch", backend: "memory", tasks: Int(rate * seconds) * perRequest,
            seconds: seconds, baselineName: "bare SwiftNIO echo of the same request, \(connections) connections",
            baselinePerSec: echoRate * Double(perRequest),
            extra: [
                ("requests_per_sec", "\(Int(rate))"), ("tasks_per_request", "\(perRequest)"),
                ("hummingbird_fixed_answer_per_sec", "\(Int(floorRate))"),
            ]
        ).print()
    }

    /// Runs `router` on a loopback port while `body` runs.
    static func serve<Builder: HTTPResponderBuilder>(
        _ router: Builder, server: HTTPServerBuilder = .http1(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (Int) async throws -> Double
    ) async throws -> Double where Builder.Responder.Context: RequestContext, Builder.Responder.Context.Source == ApplicationRequestContextSource {
        let port = Mutex<Int?>(nil)
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let app = Application(
            router: router,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } },
            eventLoopGroupProvider: .shared(group),
            logger: logger)
        let group = ServiceGroup(services: [app], logger: logger)
        let running = Task { try await group.run() }
        while port.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(5)) }
        let rate = try await body(port.withLock { $0 }!)
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        return rate
    }

    static func startEcho() async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    /// Requests per second answered with a 2xx, over `connections` keep-alive connections, each
    /// request with `token` as its bearer token and over TLS with `tls` when given.
    static func load(
        port: Int, path: String, body: String, connections: Int, for duration: Duration, token: String? = nil,
        tls: NIOSSLContext? = nil
    ) async throws -> Double {
        let answered = Counter()
        let failed = Counter()
        let deadline = NIODeadline.now() + .milliseconds(duration.components.seconds * 1000)
        let start = ContinuousClock.now
        var channels: [any Channel] = []
        for _ in 0..<connections {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: "localhost"))
                        }
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            LoadHandler(path: path, body: body, token: token, deadline: deadline, answered: answered, failed: failed))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
            channels.append(channel)
        }
        // A request that is never answered would keep its connection open: give up 30 s after the end.
        let stuck = Task { [channels] in
            try await Task.sleep(for: duration + .seconds(30))
            for channel in channels { try? await channel.close() }
        }
        for channel in channels { try? await channel.closeFuture.get() }
        stuck.cancel()
        let seconds = BenchScenarios.seconds(since: start)
        guard failed.value == 0 else { throw BenchError("\(failed.value) requests to \(path) were not answered with a 2xx") }
        return Double(answered.value) / seconds
    }
}

/// One connection of the load generator: sends the request, and again on each answer, until
/// the deadline; then closes.
private final class LoadHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let path: String
    let body: ByteBuffer
    let authorization: String?
    let deadline: NIODeadline
    let answered: Counter
    let failed: Counter
    private var ok = false

    init(path: String, body: String, token: String? = nil, deadline: NIODeadline, answered: Counter, failed: Counter) {
        self.path = path
        self.body = ByteBuffer(string: body)
        self.authorization = token.map { "Bearer \($0)" }
        self.deadline = deadline
        self.answered = answered
        self.failed = failed
    }

    func channelActive(context: ChannelHandlerContext) {
        send(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): ok = (200..<300).contains(Int(head.status.code))
        case .body: break
        case .end:
            if ok { answered.add(1) } else { failed.add(1) }
            if NIODeadline.now() < deadline { send(context) } else { context.close(promise: nil) }
        }
    }

    private func send(_ context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "host", value: "localhost")
        headers.add(name: "content-type", value: "application/json")
        if let authorization { headers.add(name: "authorization", value: authorization) }
        headers.add(name: "content-length", value: String(body.readableBytes))
        context.write(wrapOutboundOut(.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}
