import CoreMetrics
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SwitchboardAPI
import SwitchboardAssets
import SwitchboardAuth
import SwitchboardCore
import SwitchboardJSON
import SwitchboardMCP

/// What the HTTP server needs besides the engine.
public struct ServerSettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Larger bodies get 413 without being read whole.
    public var maxBodyBytes = 1 << 20
    /// Keep-alive connections idle this long are closed.
    public var idleTimeout: Duration = .seconds(60)
    /// A folder to serve the dashboard's files from (`GET /`) instead of the copy compiled into
    /// the binary (for working on the page); nil: the compiled copy.
    public var publicDirectory: String?
    /// A file to serve at `GET /openapi.yaml` instead of the compiled copy; nil: the compiled copy.
    public var openAPIPath: String?
    /// Who may connect and what they may do: auth, TLS, browser rules, abuse limits.
    public var security = SecuritySettings()

    public init() {}
}

/// The server's defences (DESIGN.md §6; README "Running it in production").
public struct SecuritySettings: Sendable {
    /// Credentials: without any, every caller is anonymous and may do everything, which is why
    /// `validateExposure` keeps such a server on loopback.
    public var authenticator: Authenticator = .disabled()
    /// Host names the server answers for besides loopback and its bound address; `*` for any
    /// (only with auth).
    public var allowedHosts: [String] = []
    /// Origins whose pages may call the API (CORS), e.g. `https://ops.example.com`.
    public var allowedOrigins: [String] = []
    /// HTTPS (and mTLS with a client CA); nil: plain HTTP.
    public var tls: ServerTLS?
    /// `/metrics` without credentials even with auth on (for a Prometheus without a token).
    public var openMetrics = false
    /// A request body must arrive whole within this of its head, else the connection is closed.
    public var bodyTimeout: Duration = .seconds(30)
    /// Open connections beyond this wait to be accepted; nil: no bound.
    public var maxConnections: Int?
    /// Starts even when reachable beyond loopback without auth (`--insecure-no-auth`).
    public var allowInsecureExposure = false
    /// Where audit lines go (one per administrative action, and per credential reload).
    public var auditLogger = Logger(label: "switchboard.audit")

    public init() {}
}

extension ServerSettings {
    /// Refuses a configuration that would let anyone who can reach the port do anything: a
    /// non-loopback bind without auth (unless told `--insecure-no-auth`), or any Host accepted
    /// without auth.
    public func validateExposure() throws(ExposureError) {
        let auth = security.authenticator.isEnabled
        if !auth, !security.allowInsecureExposure, !BrowserPolicy.isLoopback(BrowserPolicy.normalizedHost(host)) {
            throw ExposureError(
                "refusing to listen on \(host) without auth: anyone who can reach it could run tools through it. "
                    + "Give credentials with --auth-file (see `switchboard token create`), SWITCHBOARD_TOKENS or --jwt-key, "
                    + "or, on a network you trust completely, pass --insecure-no-auth")
        }
        if !auth, security.allowedHosts.contains("*") {
            throw ExposureError("--allowed-hosts '*' needs auth (--auth-file, SWITCHBOARD_TOKENS or --jwt-key): any host name would reach an open server")
        }
    }
}

public struct ExposureError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}

/// Everything a running server is made of, built once and shared by routes and services.
public struct ControlPlane: Sendable {
    public let engine: TaskEngine
    public let locks: any LockService
    public let metrics: ServerMetrics
    public let settings: ServerSettings
    public let workers: [Worker]
    /// The loops the HTTP server runs on (injected: whoever made them shuts them down; `serve`
    /// makes `makeEventLoopGroup()`'s).
    public let eventLoopGroup: any EventLoopGroup
    /// The MCP endpoint's sessions (`/mcp`).
    public let mcp: MCPGateway

    public init(
        engine: TaskEngine, locks: any LockService, metrics: ServerMetrics, settings: ServerSettings, workers: [Worker] = [],
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.engine = engine
        self.locks = locks
        self.metrics = metrics
        self.settings = settings
        self.workers = workers
        self.eventLoopGroup = eventLoopGroup
        self.mcp = MCPGateway(engine: engine, locks: locks)
    }

    /// The routes of DESIGN.md §3, each behind its access rule (§6). The page's files are
    /// served before authentication: they hold no data, and the page asks for a token.
    public func router<Context: SwitchboardContext>(context: Context.Type = SwitchboardRequestContext.self) -> Router<Context> {
        routes(context: context).router
    }

    /// Every route with the scopes that may call it (nil: open) and its audit action: the
    /// access rules as the server applies them (tests hold `openapi.yaml` to this).
    public func routeAccess() -> [RouteDescription] {
        routes(context: SwitchboardRequestContext.self).table.all.map { route in
            RouteDescription(
                method: route.method.rawValue, path: route.path, scopes: route.access.scopes, auditAction: route.access.auditAction)
        }
    }

    func routes<Context: SwitchboardContext>(context: Context.Type) -> (router: Router<Context>, table: RouteTable) {
        let router = Router(context: Context.self)
        let security = settings.security
        let authenticator = security.authenticator
        let table = RouteTable(authEnabled: authenticator.isEnabled, audit: AuditLog(logger: security.auditLogger))
        let browser = BrowserPolicy(
            allowedHosts: security.allowedHosts, allowedOrigins: security.allowedOrigins, boundHost: settings.host, tls: security.tls != nil)
        router.add(middleware: EdgeMiddleware(routes: table, browser: browser, metrics: HTTPMetrics(factory: metrics.factory)))
        // The page's text files are UTF-8, said in the header (not only in a <meta> a client
        // that is not a browser does not read).
        let utf8Text: [String: MediaType] = [
            "html": MediaType(type: .text, subType: "html", parameter: ("charset", "utf-8")),
            "css": MediaType(type: .text, subType: "css", parameter: ("charset", "utf-8")),
            "js": MediaType(type: .text, subType: "javascript", parameter: ("charset", "utf-8")),
        ]
        if let folder = settings.publicDirectory {
            router.add(middleware: FileMiddleware(folder, searchForIndexHtml: true).withAdditionalMediaTypes(forFileExtensions: utf8Text))
        } else {
            router.add(
                middleware: FileMiddleware(fileProvider: EmbeddedFiles(EmbeddedAssets.publicFiles), searchForIndexHtml: true)
                    .withAdditionalMediaTypes(forFileExtensions: utf8Text))
        }
        // Without credentials or a rate to meter, every caller is anonymous: no layer is needed
        // (`SwitchboardContext.principal` reads a missing identity as anonymous).
        if authenticator.isEnabled || authenticator.defaultRateLimit != nil {
            router.add(
                middleware: AuthenticationMiddleware(
                    authenticator: authenticator, clock: engine.clock,
                    readsClientCertificates: security.tls?.requiresClientCertificates == true && authenticator.isEnabled))
        }
        TaskRoutes(engine: engine, maxBodyBytes: settings.maxBodyBytes).add(to: router, table: table)
        EventRoutes(engine: engine).add(to: router, table: table)
        MCPRoutes(gateway: mcp, maxBodyBytes: settings.maxBodyBytes).add(to: router, table: table)
        DeadLetterRoutes(engine: engine, maxBodyBytes: settings.maxBodyBytes).add(to: router, table: table)
        QueueRoutes(engine: engine).add(to: router, table: table)
        LockRoutes(locks: locks, maxBodyBytes: settings.maxBodyBytes).add(to: router, table: table)
        LeaseRoutes(engine: engine, maxBodyBytes: settings.maxBodyBytes).add(to: router, table: table)
        SystemRoutes(engine: engine, metrics: metrics, openAPIPath: settings.openAPIPath, openMetrics: security.openMetrics)
            .add(to: router, table: table)
        return (router, table)
    }

    /// The event loops `serve` makes for the listener, the connections and their requests'
    /// handlers: two per core. Connections are accepted onto loops in turn, and a loop reads and
    /// answers all of its connections, so with as many loops as cores two busy worker
    /// connections shared one about half the time (a remote drain then left part of the machine
    /// idle, BENCHMARKS.md); with twice as many that is rarer, and a request finds an idle loop to
    /// run on. Idle loops cost nothing. Whoever makes the group owns it (`serve` keeps it for the life of the process: see there why).
    public static func makeEventLoopGroup() -> MultiThreadedEventLoopGroup {
        MultiThreadedEventLoopGroup(numberOfThreads: 2 * System.coreCount)
    }

    /// HTTP/1.1 (over TLS when configured) with requests handled on SwiftNIO's event loops
    /// (`EventLoopBoundChannel`); what `application(logger:)` serves, and what a benchmark of
    /// the server should serve.
    public var httpServer: HTTPServerBuilder {
        let bodyTimeout = TimeAmount.milliseconds(settings.security.bodyTimeout.wholeMilliseconds)
        return .http1OnEventLoops(
            configuration: .init(
                additionalChannelHandlers: [ConnectionWatch(), RequestBodyDeadline(limit: bodyTimeout)],
                idleTimeout: .milliseconds(settings.idleTimeout.wholeMilliseconds)),
            group: eventLoopGroup, tls: settings.security.tls)
    }

    /// The Hummingbird application, with the engine's maintenance and the in-process workers as
    /// its services. On SIGTERM the service group stops them in reverse order: the HTTP server
    /// stops accepting and drains requests first, then the workers drain their tasks, then
    /// maintenance stops.
    public func application(logger: Logger) -> some ApplicationProtocol {
        var services: [any Service] = [
            EngineMaintenanceService(engine: engine), ServerMaintenanceService(server: self), mcp,
            CredentialReloadService(security: settings.security, logger: logger),
        ]
        services.append(contentsOf: workers)
        return Application(
            router: router(context: SwitchboardRequestContext.self),
            server: httpServer,
            configuration: ApplicationConfiguration(
                address: .hostname(settings.host, port: settings.port), serverName: "switchboard",
                availableConnectionsDelegate: settings.security.maxConnections.map { MaximumAvailableConnections($0, logger: logger) }),
            services: services,
            eventLoopGroupProvider: .shared(eventLoopGroup),
            logger: logger)
    }
}

/// One route's access rule.
public struct RouteDescription: Sendable, Hashable {
    public var method: String
    /// With `:name` parameters, e.g. `/v1/tasks/:id`.
    public var path: String
    /// The scopes that may call it besides `admin`; nil: open to everyone.
    public var scopes: Set<Scope>?
    public var auditAction: String?
}

/// Publishes the gauges no single request updates: workers, busy slots and locks held.
struct ServerMaintenanceService: Service {
    let server: ControlPlane

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

/// Health, readiness, metrics and the contract. Health and the contract are open; readiness
/// and metrics need `viewer` (metrics may be opened for a Prometheus without credentials).
struct SystemRoutes<Context: SwitchboardContext> {
    let engine: TaskEngine
    let metrics: ServerMetrics
    let openAPIPath: String?
    let openMetrics: Bool

    func add(to router: Router<Context>, table: RouteTable) {
        table.on(router, .get, "/healthz", .open) { _, _ in JSONResponse.object { $0.key("status"); $0.string("ok") } }
        table.on(router, .get, "/readyz", .allowing(.viewer, .operator)) { _, _ in
            do {
                try await engine.backend.ping()
            } catch {
                throw SwitchboardError.unavailable("the backend is not reachable: \(error)")
            }
            // What the backend says of its durability, when it can say (a refusal is not unreadiness).
            let durability = try? await engine.durabilityReport()
            return JSONResponse.object { w in
                w.key("status"); w.string("ready")
                if let durability {
                    w.key("durability"); durability.write(to: &w)
                }
                if let skew = engine.clockSkew {
                    w.key("clock"); skew.write(to: &w)
                }
            }
        }
        table.on(router, .get, "/metrics", openMetrics ? .open : .allowing(.viewer, .operator)) { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        table.on(router, .get, "/openapi.yaml", .open) { _, context in
            guard let openAPIPath else {
                return Response(
                    status: .ok, headers: [.contentType: "application/yaml"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: EmbeddedAssets.openAPI)))
            }
            do {
                let body = try await FileIO().loadFile(path: openAPIPath, context: context)
                return Response(status: .ok, headers: [.contentType: "application/yaml"], body: body)
            } catch {
                throw SwitchboardError.notFound("the contract file \(openAPIPath) is not where the server was told it is")
            }
        }
    }
}

