import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOSSL
import ServiceLifecycle
import SwitchboardAuth
import SwitchboardCore
import SwitchboardNATS
import SwitchboardNATSClient
import SwitchboardRESP
import SwitchboardRedis
import SwitchboardSQLite
import SwitchboardServer
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the REST control plane, with in-process workers on the built-in tools.")

    @Option(help: "Address to bind; loopback by default.") var host = Environment.string("HOST") ?? "127.0.0.1"
    @Option(help: "Port to listen on.") var port = Environment.int("PORT") ?? 8080
    @Option(help: "Storage: sqlite (a file under --data-dir, the default), sqlite:PATH, memory (lost on stop), a Redis URL redis://[user:password@]host:port/db, or NATS JetStream nats://[user:password@]host:port[,host:port…] (tls:// for TLS).")
    var backend = Environment.string("BACKEND") ?? "sqlite"
    @Option(help: "Where the sqlite backend keeps its file (switchboard.sqlite); created if missing.")
    var dataDir = Environment.string("DATA_DIR") ?? StorageOptions.defaultDataDirectory
    @Option(help: "SQLite's synchronous: full (every commit fsynced: survives power loss) or normal (survives a crash of the process).")
    var sqliteSynchronous = Environment.string("SQLITE_SYNCHRONOUS") ?? "full"
    @Option(help: "Largest the SQLite file may grow; writes beyond answer 507 as on a full disk (0: no bound).")
    var sqliteMaxBytes = Environment.int("SQLITE_MAX_BYTES") ?? 0
    @Option(help: "Prefix of every Redis key, so deployments can share one Redis.")
    var redisPrefix = Environment.string("REDIS_PREFIX") ?? "sb"
    @Option(help: "Connections to Redis (each pipelines; blocking lock waits get their own).")
    var redisConnections = Environment.int("REDIS_CONNECTIONS") ?? 4
    @Option(help: "For rediss:// URLs: a PEM file of the CA to trust instead of the system's roots.")
    var redisCaFile = Environment.string("REDIS_CA_FILE") ?? ""
    @Option(help: "Prefix of the NATS stream (<prefix>_tasks), lock bucket (<prefix>_locks) and subjects, so deployments can share one NATS.")
    var natsPrefix = Environment.string("NATS_PREFIX") ?? "sb"
    @Option(help: "NATS decentralized auth: a .creds file (user JWT and NKey seed).") var natsCreds = Environment.string("NATS_CREDS") ?? ""
    @Option(help: "For tls:// NATS URLs: a PEM file of the CA to trust instead of the system's roots.")
    var natsCaFile = Environment.string("NATS_CA_FILE") ?? ""
    @Option(help: "Copies of the NATS stream and lock bucket: 1, or 3 on a cluster of three or more servers.")
    var natsReplicas = Environment.int("NATS_REPLICAS") ?? 1
    @Option(help: "In-process workers to run on the built-in tools (echo, sleep, fail).")
    var workers = Environment.int("WORKERS") ?? 1
    @Option(help: "Slots of each in-process worker.") var concurrency = Environment.int("CONCURRENCY") ?? 8
    @Option(help: "Queues the in-process workers take from, in order, comma-separated.")
    var queues = Environment.string("QUEUES") ?? "default"
    @Option(help: "Default max_retries of a task.") var maxRetries = Environment.int("MAX_RETRIES") ?? 3
    @Option(help: "Base of the exponential retry backoff.") var retryDelayMs = Environment.int("RETRY_DELAY_MS") ?? 1000
    @Option(help: "Cap of the retry backoff.") var maxRetryDelayMs = Environment.int("MAX_RETRY_DELAY_MS") ?? 600_000
    @Option(help: "Default timeout_ms of a task.") var taskTimeoutMs = Environment.int("TASK_TIMEOUT_MS") ?? 30_000
    @Option(name: .customLong("lease-ms"), help: "Lease length for in-process workers; unset: each task's timeout plus the grace.")
    var leaseMsOption: Int?
    /// Optional options cannot have a default, so the environment is read here.
    var leaseMs: Int? { leaseMsOption ?? Environment.int("LEASE_MS") }
    @Option(help: "Grace added to a task's timeout for its default lease.") var leaseGraceMs = Environment.int("LEASE_GRACE_MS") ?? 5000
    @Option(help: "Largest request body accepted (413 above).") var maxBodyBytes = Environment.int("MAX_BODY_BYTES") ?? 1_048_576
    @Option(help: "Close keep-alive connections idle this long.") var idleTimeoutMs = Environment.int("IDLE_TIMEOUT_MS") ?? 60_000
    @Option(help: "On SIGTERM, how long running tasks may finish before they are released.")
    var drainTimeoutMs = Environment.int("DRAIN_TIMEOUT_MS") ?? 30_000
    @Option(help: "How long completed and cancelled tasks are kept.") var retentionMs = Environment.int("RETENTION_MS") ?? 3_600_000
    @Option(help: "At most this many completed and cancelled tasks are kept.")
    var maxFinishedTasks = Environment.int("MAX_FINISHED_TASKS") ?? 100_000
    @Option(help: "Events kept for GET /v1/events readers that reconnect or fall behind (0: no events).")
    var eventBuffer = Environment.int("EVENT_BUFFER") ?? 10_000
    @Option(help: "Releases a task may have (drained unfinished) before a release counts as a failed attempt.")
    var maxReleases = Environment.int("MAX_RELEASES") ?? 10
    @Option(help: "With Redis: the most this server's clock may differ from Redis's for it to reap expired leases.")
    var maxClockSkewMs = Environment.int("MAX_CLOCK_SKEW_MS") ?? 2000
    @Option(help: "Prefix of the in-process workers' ids (ID-1, ID-2, …).") var workerId = Environment.string("WORKER_ID") ?? Environment.hostname
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel = Environment.string("LOG_LEVEL") ?? "info"
    @Option(help: "text (for people) or json (one object per line).") var logFormat = Environment.string("LOG_FORMAT") ?? "text"
    @Option(help: "Serve the dashboard at / from this folder instead of the copy built into the binary (for working on the page).")
    var publicDir = Environment.string("PUBLIC_DIR") ?? ""
    @Option(help: "Serve /openapi.yaml from this file instead of the copy built into the binary.")
    var openapi = Environment.string("OPENAPI") ?? ""

    // Security (README "Running it in production").
    @Option(help: "Token file (YAML or JSON: name, scopes, queues, sha256, expires); re-read on SIGHUP. SWITCHBOARD_TOKENS may hold more.")
    var authFile = Environment.string("AUTH_FILE") ?? ""
    @Option(help: "JWTs: a file with a JWKS or one PEM public key (Ed25519, P-256, P-384, RSA); scopes from the scope claim.")
    var jwtKey = Environment.string("JWT_KEY") ?? ""
    @Option(help: "JWTs: a file with an HMAC secret (HS256, at least 32 bytes).") var jwtSecretFile = Environment.string("JWT_SECRET_FILE") ?? ""
    @Option(help: "JWTs: the issuer (iss) they must name.") var jwtIssuer = Environment.string("JWT_ISSUER") ?? ""
    @Option(help: "JWTs: an audience (aud) they must include.") var jwtAudience = Environment.string("JWT_AUDIENCE") ?? ""
    @Option(help: "Scopes of a verified client certificate that no client_certificate rule of the token file matches (comma list).")
    var mtlsScope = Environment.string("MTLS_SCOPE") ?? ""
    @Flag(help: "Start without auth even on a non-loopback address (anyone who reaches the port may do anything).")
    var insecureNoAuth = Environment.flag("INSECURE_NO_AUTH")
    @Option(help: "Host names this server answers for besides loopback and --host (comma list; * for any, only with auth).")
    var allowedHosts = Environment.string("ALLOWED_HOSTS") ?? ""
    @Option(help: "Origins whose pages may call the API, e.g. https://ops.example.com (comma list).")
    var allowedOrigins = Environment.string("ALLOWED_ORIGINS") ?? ""
    @Option(help: "HTTPS: the server's certificate chain (PEM); re-read on SIGHUP.") var tlsCert = Environment.string("TLS_CERT") ?? ""
    @Option(help: "HTTPS: the server's private key (PEM).") var tlsKey = Environment.string("TLS_KEY") ?? ""
    @Option(help: "mTLS: the CA of client certificates; every client must present one it signed.")
    var tlsClientCa = Environment.string("TLS_CLIENT_CA") ?? ""
    @Flag(help: "Serve /metrics without credentials even with auth on.") var openMetrics = Environment.flag("OPEN_METRICS")
    @Option(help: "Requests per second of a token without its own rate_limit (0: unmetered).")
    var rateLimit = Environment.double("RATE_LIMIT") ?? 0
    @Option(help: "Burst above --rate-limit (default: the rate).") var rateBurst = Environment.int("RATE_BURST") ?? 0
    @Option(help: "A request body must arrive whole within this of its head; else the connection is closed.")
    var bodyTimeoutMs = Environment.int("BODY_TIMEOUT_MS") ?? 30_000
    @Option(help: "Open connections beyond this wait to be accepted.") var maxConnections = Environment.int("MAX_CONNECTIONS") ?? 4096
    @Option(help: "Distinct queue names the server takes (a metric label each); 422 beyond.")
    var maxQueueNames = Environment.int("MAX_QUEUE_NAMES") ?? 1000
    @Option(help: "Distinct task types the server takes; 422 beyond.") var maxTaskTypes = Environment.int("MAX_TASK_TYPES") ?? 1000
    @Option(help: "Waiting tasks (scheduled, pending, retrying) a queue may hold; 429 beyond (0: no bound).")
    var maxQueueDepth = Environment.int("MAX_QUEUE_DEPTH") ?? 0

    func validate() throws {
        _ = try storage()
        guard redisConnections > 0, !redisPrefix.isEmpty else { throw ValidationError("redis-connections must be positive, redis-prefix not empty") }
        guard [1, 3].contains(natsReplicas) else { throw ValidationError("nats-replicas must be 1 or 3") }
        guard !natsPrefix.isEmpty, natsPrefix.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
            throw ValidationError("nats-prefix must be letters, digits, - and _ (it names a stream and a subject token)")
        }
        guard SQLiteConfiguration.Synchronous(rawValue: sqliteSynchronous.uppercased()) != nil else {
            throw ValidationError("sqlite-synchronous must be full or normal")
        }
        guard sqliteMaxBytes >= 0 else { throw ValidationError("sqlite-max-bytes must not be negative") }
        guard !dataDir.isEmpty else { throw ValidationError("data-dir must not be empty") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown log level \(logLevel)") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("log format must be text or json") }
        guard (0...65535).contains(port) else { throw ValidationError("port must be 0-65535") }
        guard workers >= 0, concurrency > 0 else { throw ValidationError("workers must be >= 0 and concurrency > 0") }
        guard maxBodyBytes > 0, idleTimeoutMs > 0, drainTimeoutMs >= 0 else { throw ValidationError("sizes and timeouts must be positive") }
        guard (0...100).contains(maxRetries) else { throw ValidationError("max-retries must be 0-100") }
        guard maxReleases >= 0 else { throw ValidationError("max-releases must not be negative") }
        guard (0...1_000_000).contains(eventBuffer) else { throw ValidationError("event-buffer must be 0-1000000") }
        guard maxClockSkewMs > 0 else { throw ValidationError("max-clock-skew-ms must be positive") }
        guard retryDelayMs >= 0, maxRetryDelayMs >= retryDelayMs else { throw ValidationError("retry delays must satisfy 0 <= retry-delay-ms <= max-retry-delay-ms") }
        guard taskTimeoutMs > 0, leaseGraceMs >= 0, retentionMs >= 0, maxFinishedTasks >= 0 else {
            throw ValidationError("timeouts and retention must not be negative")
        }
        if let leaseMs, leaseMs < 100 { throw ValidationError("lease-ms must be at least 100") }
        var isFolder: ObjCBool = false
        if !publicDir.isEmpty, !(FileManager.default.fileExists(atPath: publicDir, isDirectory: &isFolder) && isFolder.boolValue) {
            throw ValidationError("public-dir \(publicDir) is not a folder (leave it out to serve the page built into the binary)")
        }
        if !openapi.isEmpty, !FileManager.default.isReadableFile(atPath: openapi) {
            throw ValidationError("openapi \(openapi) is not a readable file (leave it out to serve the contract built into the binary)")
        }
        guard tlsCert.isEmpty == tlsKey.isEmpty else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard tlsClientCa.isEmpty || !tlsCert.isEmpty else { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
        guard mtlsScope.isEmpty || !tlsClientCa.isEmpty else { throw ValidationError("--mtls-scope needs --tls-client-ca") }
        if !mtlsScope.isEmpty {
            do { _ = try Scope.list(mtlsScope) } catch { throw ValidationError("mtls-scope: \(error)") }
        }
        guard jwtKey.isEmpty || jwtSecretFile.isEmpty else { throw ValidationError("give one of --jwt-key and --jwt-secret-file") }
        guard rateLimit >= 0, rateBurst >= 0, bodyTimeoutMs > 0, maxConnections > 0 else {
            throw ValidationError("rate-limit, rate-burst must not be negative; body-timeout-ms and max-connections must be positive")
        }
        guard maxQueueNames > 0, maxTaskTypes > 0, maxQueueDepth >= 0 else {
            throw ValidationError("max-queue-names and max-task-types must be positive, max-queue-depth not negative")
        }
    }

    /// Everything security-related, read and checked: files that cannot be used refuse to start.
    func security() async throws -> SecuritySettings {
        var security = SecuritySettings()
        var auth = Authenticator.Settings()
        auth.tokens = TokenStore.Sources(file: authFile.isEmpty ? nil : authFile, environment: Environment.string("TOKENS"))
        auth.jwt = JWTVerifier.Settings(
            keyFile: jwtKey.isEmpty ? nil : jwtKey, secretFile: jwtSecretFile.isEmpty ? nil : jwtSecretFile,
            issuer: jwtIssuer.isEmpty ? nil : jwtIssuer, audience: jwtAudience.isEmpty ? nil : jwtAudience)
        auth.certificateScopes = mtlsScope.isEmpty ? nil : try Scope.list(mtlsScope)
        auth.defaultRateLimit = rateLimit > 0 ? RateLimit(perSecond: rateLimit, burst: rateBurst > 0 ? rateBurst : nil) : nil
        do {
            security.authenticator = auth.isEnabled ? try await Authenticator(auth) : .disabled(defaultRateLimit: auth.defaultRateLimit)
        } catch {
            throw ValidationError("auth: \(error)")
        }
        if !tlsCert.isEmpty {
            do {
                security.tls = try ServerTLS(
                    .init(certificateChain: tlsCert, privateKey: tlsKey, clientCA: tlsClientCa.isEmpty ? nil : tlsClientCa))
            } catch {
                throw ValidationError("tls: \(error)")
            }
        }
        security.allowedHosts = Environment.list(allowedHosts)
        security.allowedOrigins = Environment.list(allowedOrigins)
        security.openMetrics = openMetrics
        security.bodyTimeout = .milliseconds(bodyTimeoutMs)
        security.maxConnections = maxConnections
        security.allowInsecureExposure = insecureNoAuth
        return security
    }

    func run() async throws {
        Logs.bootstrap(level: logLevel, format: logFormat)
        let logger = Logger(label: "switchboard")
        var settings = ServerSettings()
        settings.host = host
        settings.security = try await security()
        do {
            try settings.validateExposure()
        } catch {
            printError("switchboard: \(error)")
            throw ExitCode(78)
        }
        let metrics = ServerMetrics()
        MetricsSystem.bootstrap(metrics.factory)

        var configuration = EngineConfiguration()
        configuration.defaultMaxRetries = maxRetries
        configuration.retry = RetryPolicy(baseDelay: .milliseconds(retryDelayMs), maxDelay: .milliseconds(maxRetryDelayMs))
        configuration.defaultTimeout = .milliseconds(taskTimeoutMs)
        configuration.leaseGrace = .milliseconds(leaseGraceMs)
        configuration.finishedRetention = .milliseconds(retentionMs)
        configuration.maxFinishedTasks = maxFinishedTasks
        configuration.eventBufferSize = eventBuffer
        configuration.maxReleases = maxReleases
        configuration.maxClockSkew = .milliseconds(maxClockSkewMs)
        configuration.admission.maxQueueNames = maxQueueNames
        configuration.admission.maxTaskTypes = maxTaskTypes
        configuration.admission.maxQueueDepth = maxQueueDepth > 0 ? maxQueueDepth : nil
        let engine: TaskEngine
        let lockService: any LockService
        var redis: RedisClient?
        var nats: (client: NATSClient, backend: NATSTaskBackend)?
        var sqlite: SQLiteTaskBackend?
        switch try storage() {
        case .memory:
            engine = TaskEngine.memory(configuration: configuration, metricsFactory: metrics.factory)
            lockService = MemoryLockService()
        case .sqlite(let path):
            do {
                let started = ContinuousClock.now
                let backend = try SQLiteTaskBackend(
                    configuration: SQLiteConfiguration(
                        path: path, synchronous: SQLiteConfiguration.Synchronous(rawValue: sqliteSynchronous.uppercased()) ?? .full,
                        maxBytes: sqliteMaxBytes > 0 ? Int64(sqliteMaxBytes) : nil),
                    errorHistoryLimit: configuration.limits.maxErrorHistory)
                sqlite = backend
                lockService = try SQLiteLockService(backend: backend)
                engine = TaskEngine(backend: backend, configuration: configuration, metricsFactory: metrics.factory)
                logger.info("database opened", metadata: ["path": "\(path)", "load_ms": "\((ContinuousClock.now - started).wholeMilliseconds)"])
            } catch {
                await sqlite?.close()
                printError("switchboard: \(error)")
                throw ExitCode(74)
            }
        case .redis(let url):
            var redisConfiguration = RedisClient.Configuration(url: url)
            redisConfiguration.connectionCount = redisConnections
            if !redisCaFile.isEmpty { redisConfiguration.tls.trustRoots = .file(redisCaFile) }
            let client = RedisClient(redisConfiguration)
            redis = client
            let backend = RedisTaskBackend(
                client: client, prefix: redisPrefix, errorHistoryLimit: configuration.limits.maxErrorHistory)
            engine = TaskEngine(backend: backend, configuration: configuration, metricsFactory: metrics.factory)
            lockService = RedisLockService(client: client, prefix: redisPrefix)
        case .nats(let url):
            let connected = try await connectNATS(url, errorHistoryLimit: configuration.limits.maxErrorHistory, logger: logger)
            nats = connected
            engine = TaskEngine(backend: connected.backend, configuration: configuration, metricsFactory: metrics.factory)
            lockService = NATSLockService(client: connected.client, prefix: natsPrefix, replicas: natsReplicas)
        }
        let locks = MeteredLockService(lockService, metricsFactory: metrics.factory, events: engine.events)
        let tools = ToolRegistry.builtins()
        // Queue names cannot hold spaces, so "a, b" is read as "a,b".
        let queueList = queues.split(separator: ",").map { $0.filter { $0 != " " } }.filter { !$0.isEmpty }
        let inProcess = (0..<workers).map { index in
            Worker(
                configuration: Worker.Configuration(
                    id: "\(workerId)-\(index + 1)", queues: queueList, concurrency: concurrency,
                    drainTimeout: .milliseconds(drainTimeoutMs), leaseDuration: leaseMs.map { .milliseconds($0) }),
                source: engine, locks: locks, tools: tools, logger: logger)
        }
        settings.port = port
        settings.maxBodyBytes = maxBodyBytes
        settings.idleTimeout = .milliseconds(idleTimeoutMs)
        settings.publicDirectory = publicDir.isEmpty ? nil : publicDir
        settings.openAPIPath = openapi.isEmpty ? nil : openapi
        let loops = ControlPlane.makeEventLoopGroup()
        let server = ControlPlane(engine: engine, locks: locks, metrics: metrics, settings: settings, workers: inProcess, eventLoopGroup: loops)
        logger.info(
            "starting",
            metadata: [
                "address": "\(settings.security.tls == nil ? "http" : "https")://\(host):\(port)", "backend": "\(redactedBackend)",
                "workers": "\(workers)x\(concurrency)", "auth": "\(authSummary(settings.security))",
            ])
        await reportDurability(of: engine, logger: logger)
        if let skew = try? await engine.measureClockSkew(), skew.isWithinBound {
            logger.info("clock", metadata: ["skew_ms_from_backend": "\(skew.skew.wholeMilliseconds)"])
        }
        // The loops live as long as the process. Hummingbird (2.28) ends its server's graceful
        // shutdown in a task it does not await, whose last step fails a promise on the listening
        // channel's loop; shutting the group down when `runService` returns raced with it (NIO's
        // "Cannot schedule tasks on an EventLoop that has already shut down" in a tenth to a
        // third of stops). Nothing runs on them once the service group has ended, and the
        // process exits next.
        defer { withExtendedLifetime(loops) {} }
        do {
            try await server.application(logger: logger).runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch {
            await redis?.close()
            nats?.backend.close()
            nats?.client.close()
            await sqlite?.close()
            throw error
        }
        await redis?.close()
        nats?.backend.close()
        nats?.client.close()
        await sqlite?.close()
        logger.info("stopped")
    }

    /// A NATS client and the task backend on it, its stream made and loaded. NATS that cannot be
    /// reached yet (a deployment starting together) is waited for, up to half a minute.
    private func connectNATS(_ url: NATSURL, errorHistoryLimit: Int, logger: Logger) async throws -> (client: NATSClient, backend: NATSTaskBackend) {
        var configuration = NATSClient.Configuration(url: url)
        configuration.options.name = "switchboard \(workerId)"
        configuration.options.minimumServerVersion = NATSTaskBackend.minimumServerVersion
        do {
            if !natsCreds.isEmpty { configuration.options.credentials = try NATSCredentials(contents: String(contentsOfFile: natsCreds, encoding: .utf8)) }
            if !natsCaFile.isEmpty {
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.trustRoots = .file(natsCaFile)
                configuration.options.tls = try NIOSSLContext(configuration: tls)
            }
        } catch {
            throw ValidationError("nats: \(error)")
        }
        let client = NATSClient(configuration, logger: Logger(label: "switchboard.nats"))
        let backend = NATSTaskBackend(client: client, prefix: natsPrefix, replicas: natsReplicas, errorHistoryLimit: errorHistoryLimit)
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do {
                try await backend.start()
                return (client, backend)
            } catch {
                guard ContinuousClock.now < deadline else {
                    client.close()
                    printError("switchboard: NATS at \(url) is not usable: \(error)")
                    throw ExitCode(69)
                }
                logger.warning("waiting for NATS", metadata: ["url": "\(url)", "error": "\(error)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Says at start how safe tasks are (the memory backend loses them on restart; a Redis that
    /// may evict keys or has no append-only file can lose them too): warnings, not refusals.
    private func reportDurability(of engine: TaskEngine, logger: Logger) async {
        do {
            guard let report = try await engine.durabilityReport() else { return }
            let settings = report.settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            logger.info("durability", metadata: ["survives_restart": "\(report.survivesRestart)", "settings": "\(settings)"])
            for warning in report.warnings { logger.warning("\(warning)") }
        } catch {
            logger.warning("could not check the backend's durability settings", metadata: ["error": "\(error)"])
        }
    }

    /// What guards the server, for the start-up line (names of sources, never a credential).
    private func authSummary(_ security: SecuritySettings) -> String {
        let authenticator = security.authenticator
        guard authenticator.isEnabled else { return "off (loopback only)" }
        var parts: [String] = []
        if let tokens = authenticator.tokens { parts.append("\(tokens.count) tokens") }
        if authenticator.jwt != nil { parts.append("jwt") }
        if let scopes = authenticator.certificateScopes { parts.append("client certificates as \(scopes.spelled)") }
        if security.tls?.requiresClientCertificates == true { parts.append("mtls") }
        return parts.joined(separator: ", ")
    }

    /// The backend for logs: a URL without its password.
    var redactedBackend: String {
        switch try? storage() {
        case .redis(let url): url.description
        case .nats(let url): url.description
        default: backend
        }
    }

    enum Storage {
        case memory
        case sqlite(path: String)
        case redis(RedisURL)
        case nats(NATSURL)
    }

    func storage() throws -> Storage {
        if backend == "memory" { return .memory }
        if backend == "sqlite" { return .sqlite(path: StorageOptions.databasePath(dataDirectory: dataDir)) }
        if backend.hasPrefix("sqlite:") {
            let path = String(backend.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw ValidationError("backend sqlite:PATH needs a path") }
            return .sqlite(path: path)
        }
        do {
            if backend.hasPrefix("redis://") || backend.hasPrefix("rediss://") { return .redis(try RedisURL(backend)) }
            if backend.hasPrefix("nats://") || backend.hasPrefix("tls://") { return .nats(try NATSURL(backend)) }
        } catch {
            throw ValidationError("backend: \(error)")
        }
        throw ValidationError("unknown backend \(backend): use sqlite, sqlite:PATH, memory, a redis:// URL or a nats:// URL")
    }
}

