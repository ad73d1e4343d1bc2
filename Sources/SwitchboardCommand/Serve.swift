import ArgumentParser
import Hummingbird
import Logging
import Metrics
import NIOSSL
import ServiceLifecycle
import SwitchboardCore
import SwitchboardRESP
import SwitchboardRedis
import SwitchboardServer
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the REST control plane, with in-process workers on the built-in tools.")

    @Option(help: "Address to bind; loopback by default.") var host = Environment.string("HOST") ?? "127.0.0.1"
    @Option(help: "Port to listen on.") var port = Environment.int("PORT") ?? 8080
    @Option(help: "Storage: memory, or a Redis URL redis://[user:password@]host:port/db.")
    var backend = Environment.string("BACKEND") ?? "memory"
    @Option(help: "Prefix of every Redis key, so deployments can share one Redis.")
    var redisPrefix = Environment.string("REDIS_PREFIX") ?? "sb"
    @Option(help: "Connections to Redis (each pipelines; blocking lock waits get their own).")
    var redisConnections = Environment.int("REDIS_CONNECTIONS") ?? 4
    @Option(help: "For rediss:// URLs: a PEM file of the CA to trust instead of the system's roots.")
    var redisCaFile = Environment.string("REDIS_CA_FILE") ?? ""
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
    @Option(help: "Prefix of the in-process workers' ids (ID-1, ID-2, …).") var workerId = Environment.string("WORKER_ID") ?? Environment.hostname
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel = Environment.string("LOG_LEVEL") ?? "info"
    @Option(help: "text (for people) or json (one object per line).") var logFormat = Environment.string("LOG_FORMAT") ?? "text"
    @Option(help: "Folder of the dashboard served at /.") var publicDir = Environment.string("PUBLIC_DIR") ?? "Public"
    @Option(help: "The contract served at /openapi.yaml.") var openapi = Environment.string("OPENAPI") ?? "openapi.yaml"

    func validate() throws {
        _ = try storage()
        guard redisConnections > 0, !redisPrefix.isEmpty else { throw ValidationError("redis-connections must be positive, redis-prefix not empty") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown log level \(logLevel)") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("log format must be text or json") }
        guard (0...65535).contains(port) else { throw ValidationError("port must be 0-65535") }
        guard workers >= 0, concurrency > 0 else { throw ValidationError("workers must be >= 0 and concurrency > 0") }
        guard maxBodyBytes > 0, idleTimeoutMs > 0, drainTimeoutMs >= 0 else { throw ValidationError("sizes and timeouts must be positive") }
        guard (0...100).contains(maxRetries) else { throw ValidationError("max-retries must be 0-100") }
        guard retryDelayMs >= 0, maxRetryDelayMs >= retryDelayMs else { throw ValidationError("retry delays must satisfy 0 <= retry-delay-ms <= max-retry-delay-ms") }
        guard taskTimeoutMs > 0, leaseGraceMs >= 0, retentionMs >= 0, maxFinishedTasks >= 0 else {
            throw ValidationError("timeouts and retention must not be negative")
        }
        if let leaseMs, leaseMs < 100 { throw ValidationError("lease-ms must be at least 100") }
    }

    func run() async throws {
        Logs.bootstrap(level: logLevel, format: logFormat)
        let logger = Logger(label: "switchboard")
        let metrics = ServerMetrics()
        MetricsSystem.bootstrap(metrics.factory)

        var configuration = EngineConfiguration()
        configuration.defaultMaxRetries = maxRetries
        configuration.retry = RetryPolicy(baseDelay: .milliseconds(retryDelayMs), maxDelay: .milliseconds(maxRetryDelayMs))
        configuration.defaultTimeout = .milliseconds(taskTimeoutMs)
        configuration.leaseGrace = .milliseconds(leaseGraceMs)
        configuration.finishedRetention = .milliseconds(retentionMs)
        configuration.maxFinishedTasks = maxFinishedTasks
        let engine: TaskEngine
        let lockService: any LockService
        var redis: RedisClient?
        switch try storage() {
        case .memory:
            engine = TaskEngine.memory(configuration: configuration, metricsFactory: metrics.factory)
            lockService = MemoryLockService()
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
        }
        let locks = MeteredLockService(lockService, metricsFactory: metrics.factory)
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
        var settings = ServerSettings()
        settings.host = host
        settings.port = port
        settings.maxBodyBytes = maxBodyBytes
        settings.idleTimeout = .milliseconds(idleTimeoutMs)
        settings.publicDirectory = publicDir
        settings.openAPIPath = openapi
        let server = SwitchboardServer(engine: engine, locks: locks, metrics: metrics, settings: settings, workers: inProcess)
        logger.info(
            "starting", metadata: ["address": "\(host):\(port)", "backend": "\(redactedBackend)", "workers": "\(workers)x\(concurrency)"])
        do {
            try await server.application(logger: logger).runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch {
            await redis?.close()
            throw error
        }
        await redis?.close()
        logger.info("stopped")
    }

    /// The backend for logs: a Redis URL without its password.
    var redactedBackend: String {
        if case .redis(let url) = try? storage() { return url.description }
        return backend
    }

    enum Storage {
        case memory
        case redis(RedisURL)
    }

    func storage() throws -> Storage {
        if backend == "memory" { return .memory }
        guard backend.hasPrefix("redis://") || backend.hasPrefix("rediss://") else {
            throw ValidationError("unknown backend \(backend): use memory or a redis:// URL")
        }
        do {
            return .redis(try RedisURL(backend))
        } catch {
            throw ValidationError("backend: \(error)")
        }
    }
}

