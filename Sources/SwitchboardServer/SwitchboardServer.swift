import CoreMetrics
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SwitchboardCore

/// What the HTTP server needs besides the engine.
public struct ServerSettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Larger bodies get 413 without being read whole.
    public var maxBodyBytes = 1 << 20
    /// Keep-alive connections idle this long are closed.
    public var idleTimeout: Duration = .seconds(60)
    /// Where the dashboard's files are (`GET /`), relative to the working directory.
    public var publicDirectory = "Public"
    /// The contract served at `GET /openapi.yaml`.
    public var openAPIPath = "openapi.yaml"

    public init() {}
}

/// Everything a running server is made of, built once and shared by routes and services.
public struct SwitchboardServer: Sendable {
    public let engine: TaskEngine
    public let locks: any LockService
    public let metrics: ServerMetrics
    public let settings: ServerSettings
    public let workers: [Worker]

    public init(engine: TaskEngine, locks: any LockService, metrics: ServerMetrics, settings: ServerSettings, workers: [Worker] = []) {
        self.engine = engine
        self.locks = locks
        self.metrics = metrics
        self.settings = settings
        self.workers = workers
    }

    /// The routes of DESIGN.md §3.
    public func router<Context: RequestContext>(context: Context.Type = BasicRequestContext.self) -> Router<Context> {
        let router = Router(context: Context.self)
        let table = RouteTable()
        router.add(middleware: EdgeMiddleware(routes: table, metrics: HTTPMetrics(factory: metrics.factory)))
        router.add(middleware: FileMiddleware(settings.publicDirectory, searchForIndexHtml: true))
        TaskRoutes(engine: engine, maxBodyBytes: settings.maxBodyBytes).add(to: router, table: table)
        DeadLetterRoutes(engine: engine).add(to: router, table: table)
        QueueRoutes(engine: engine).add(to: router, table: table)
        LockRoutes(locks: locks, maxBodyBytes: settings.maxBodyBytes).add(to: router, table: table)
        LeaseRoutes(engine: engine, maxBodyBytes: settings.maxBodyBytes).add(to: router, table: table)
        SystemRoutes(engine: engine, metrics: metrics, openAPIPath: settings.openAPIPath).add(to: router, table: table)
        return router
    }

    /// The event loops of the listener, the connections and their requests' handlers: two per
    /// core. Connections are accepted onto loops in turn, and a loop reads and answers all of
    /// its connections, so with as many loops as cores two busy worker connections shared one
    /// about half the time (a remote drain then left a fifth of the machine idle); with twice as
    /// many that is rarer, and a request finds an idle loop to run on. Idle loops cost nothing.
    static let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 2 * System.coreCount)

    /// The event loop group an `Application` serving `httpServer` must be given.
    public static var httpEventLoopGroup: any EventLoopGroup { eventLoopGroup }

    /// HTTP/1.1 with requests handled on SwiftNIO's event loops (`EventLoopBoundChannel`); what
    /// `application(logger:)` serves, and what a benchmark of the server should serve.
    public var httpServer: HTTPServerBuilder {
        .http1OnEventLoops(
            configuration: .init(
                additionalChannelHandlers: [ConnectionWatch()], idleTimeout: .milliseconds(settings.idleTimeout.wholeMilliseconds)),
            group: Self.eventLoopGroup)
    }

    /// The Hummingbird application, with the engine's maintenance and the in-process workers as
    /// its services. On SIGTERM the service group stops them in reverse order: the HTTP server
    /// stops accepting and drains requests first, then the workers drain their tasks, then
    /// maintenance stops.
    public func application(logger: Logger) -> some ApplicationProtocol {
        var services: [any Service] = [EngineMaintenanceService(engine: engine), ServerMaintenanceService(server: self)]
        services.append(contentsOf: workers)
        return Application(
            router: router(context: SwitchboardRequestContext.self),
            server: httpServer,
            configuration: ApplicationConfiguration(address: .hostname(settings.host, port: settings.port), serverName: "switchboard"),
            services: services,
            eventLoopGroupProvider: .shared(Self.eventLoopGroup),
            logger: logger)
    }
}

/// Publishes the gauges no single request updates: workers, busy slots and locks held.
struct ServerMaintenanceService: Service {
    let server: SwitchboardServer

    func run() async throws {
        let workers = Gauge(label: "switchboard_workers", factory: server.metrics.factory)
        let busy = Gauge(label: "switchboard_worker_slots_busy", factory: server.metrics.factory)
        let held = Gauge(label: "switchboard_locks_held", factory: server.metrics.factory)
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                // Every worker seen leasing here, in-process or remote, that is not gone.
                let seen = server.engine.workers.list(now: server.engine.clock.now()).filter { !$0.gone }
                workers.record(seen.count)
                busy.record(seen.reduce(0) { $0 + $1.busy })
                // Listing leases also drops expired ones (the in-memory service sweeps as it lists).
                if let count = try? await server.locks.leases().count { held.record(count) }
                try await server.engine.clock.sleep(for: server.engine.configuration.maintenanceInterval)
            }
        }
    }
}

/// Health, readiness, metrics and the contract.
struct SystemRoutes<Context: RequestContext> {
    let engine: TaskEngine
    let metrics: ServerMetrics
    let openAPIPath: String

    func add(to router: Router<Context>, table: RouteTable) {
        table.on(router, .get, "/healthz") { _, _ in JSONResponse.object { $0.key("status"); $0.string("ok") } }
        table.on(router, .get, "/readyz") { _, _ in
            do {
                try await engine.backend.ping()
            } catch {
                throw SwitchboardError.unavailable("the backend is not reachable: \(error)")
            }
            return JSONResponse.object { $0.key("status"); $0.string("ready") }
        }
        table.on(router, .get, "/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        table.on(router, .get, "/openapi.yaml") { _, context in
            do {
                let body = try await FileIO().loadFile(path: openAPIPath, context: context)
                return Response(status: .ok, headers: [.contentType: "application/yaml"], body: body)
            } catch {
                throw SwitchboardError.notFound("the contract file \(openAPIPath) is not where the server was told it is")
            }
        }
    }
}

