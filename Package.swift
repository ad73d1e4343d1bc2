// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "switchboard",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SwitchboardJSON", targets: ["SwitchboardJSON"]),
        .library(name: "SwitchboardCore", targets: ["SwitchboardCore"]),
        .library(name: "SwitchboardAPI", targets: ["SwitchboardAPI"]),
        .library(name: "SwitchboardTesting", targets: ["SwitchboardTesting"]),
        .library(name: "SwitchboardServer", targets: ["SwitchboardServer"]),
        .library(name: "SwitchboardRESP", targets: ["SwitchboardRESP"]),
        .library(name: "SwitchboardRedis", targets: ["SwitchboardRedis"]),
        .library(name: "SwitchboardNATSClient", targets: ["SwitchboardNATSClient"]),
        .library(name: "SwitchboardNATS", targets: ["SwitchboardNATS"]),
        .library(name: "SwitchboardSQLite", targets: ["SwitchboardSQLite"]),
        .library(name: "SwitchboardClient", targets: ["SwitchboardClient"]),
        .library(name: "SwitchboardAuth", targets: ["SwitchboardAuth"]),
        .executable(name: "switchboard", targets: ["SwitchboardCommand"]),
        .executable(name: "switchboard-bench", targets: ["SwitchboardBench"]),
        .executable(name: "switchboard-demo", targets: ["SwitchboardDemo"]),
        .executable(name: "remote-worker-example", targets: ["RemoteWorkerExample"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", from: "0.12.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    ],
    targets: [
        // JSON as bytes: a validating scanner, a writer, raw values passed through verbatim, and
        // readers with their own error type. Knows no task, no time type, no HTTP.
        .target(
            name: "SwitchboardJSON",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SwitchboardCore",
            dependencies: [
                "SwitchboardJSON",
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The API's wire format: the JSON of tasks, submissions, lease answers, lock leases,
        // problems and list pages, written and read the one way the server, the client and the
        // CLI share.
        .target(
            name: "SwitchboardAPI",
            dependencies: ["SwitchboardCore", "SwitchboardJSON"],
            swiftSettings: swiftSettings
        ),
        // The operator's page and the contract, compiled into the binary (symbolic links to the
        // top-level Public/ and openapi.yaml; every file listed, which a test holds to Public/).
        .target(
            name: "SwitchboardAssets",
            resources: [
                .embedInCode("Public/index.html"), .embedInCode("Public/app.css"), .embedInCode("Public/app.js"),
                .embedInCode("Public/charts.js"), .embedInCode("Public/live.js"), .embedInCode("Public/views.js"),
                .embedInCode("openapi.yaml"),
            ],
            swiftSettings: swiftSettings
        ),
        // Test support, as HummingbirdTesting: a clock moved by hand, fixtures, and the backend
        // conformance suite (plain async checks, so that every backend's tests — memory here,
        // Redis and NATS in their own test targets — run the very same list).
        .target(
            name: "SwitchboardTesting",
            dependencies: ["SwitchboardCore", "SwitchboardJSON"],
            swiftSettings: swiftSettings
        ),
        // A small Redis (RESP2/RESP3) client on SwiftNIO: no Swift Redis client is available here.
        .target(
            name: "SwitchboardRESP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // A small NATS client on SwiftNIO (core protocol; JetStream on top): no Swift NATS client
        // is available here.
        .target(
            name: "SwitchboardNATSClient",
            dependencies: [
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // NATS storage: tasks on a JetStream stream, locks in a KV bucket. Knows no HTTP.
        .target(
            name: "SwitchboardNATS",
            dependencies: [
                "SwitchboardCore", "SwitchboardJSON", "SwitchboardAPI", "SwitchboardNATSClient", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HeapModule", package: "swift-collections"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // SQLite storage (one file, one process): the memory backend's state, every transition's
        // changes committed before it is acknowledged, many transitions per commit. Knows no HTTP.
        .target(
            name: "SwitchboardSQLite",
            dependencies: [
                "SwitchboardCore", "SwitchboardJSON", "SwitchboardAPI",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Redis storage: locks now, the task backend next. Knows no HTTP.
        .target(
            name: "SwitchboardRedis",
            dependencies: [
                "SwitchboardCore", "SwitchboardJSON", "SwitchboardRESP", .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        // Who may do what: scoped bearer tokens (hashed, from a file or the environment), JWTs,
        // client-certificate rules, per-identity rate limits. Knows no HTTP.
        .target(
            name: "SwitchboardAuth",
            dependencies: [
                "SwitchboardCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // MCP for workers: hosting MCP servers as child processes and running their tools as
        // tool calls (the MCP Swift SDK's client over our child-process transport).
        .target(
            name: "SwitchboardMCP",
            dependencies: [
                "SwitchboardCore", "SwitchboardJSON", "SwitchboardAPI", "SwitchboardAuth",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // A typed client of the REST API, and the remote task source that lets `Worker` run in
        // another process. Knows HTTP, not the server's code.
        .target(
            name: "SwitchboardClient",
            dependencies: [
                "SwitchboardCore", "SwitchboardJSON", "SwitchboardAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The REST control plane: routes, problem+json errors, metrics, static files. Handlers
        // decode, call the engine, encode; no policy lives here.
        .target(
            name: "SwitchboardServer",
            dependencies: [
                "SwitchboardCore", "SwitchboardJSON", "SwitchboardAPI", "SwitchboardAssets",
                "SwitchboardAuth", "SwitchboardMCP",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SwitchboardCommand",
            dependencies: [
                "SwitchboardJSON", "SwitchboardAPI", "SwitchboardRedis", "SwitchboardRESP", "SwitchboardNATS", "SwitchboardNATSClient", "SwitchboardClient", "SwitchboardAuth", "SwitchboardCore", "SwitchboardServer", "SwitchboardMCP", "SwitchboardSQLite",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The benchmark harness (`switchboard-bench`), apart from the shipped binary.
        .executableTarget(
            name: "SwitchboardBench",
            dependencies: [
                "SwitchboardJSON", "SwitchboardAPI", "SwitchboardRedis", "SwitchboardRESP", "SwitchboardNATS", "SwitchboardNATSClient", "SwitchboardClient", "SwitchboardAuth", "SwitchboardCore", "SwitchboardServer", "SwitchboardMCP", "SwitchboardSQLite",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SwitchboardDemo",
            dependencies: [
                "SwitchboardCore", "SwitchboardJSON", "SwitchboardAPI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Examples/RemoteWorker: an app with its own tool running a remote worker.
        .executableTarget(
            name: "RemoteWorkerExample",
            dependencies: [
                "SwitchboardClient", "SwitchboardCore", "SwitchboardJSON",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/RemoteWorker",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwitchboardMCPTests",
            dependencies: [
                "SwitchboardMCP", "SwitchboardCore", "SwitchboardJSON",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwitchboardCoreTests",
            dependencies: [
                "SwitchboardCore", "SwitchboardJSON", "SwitchboardAPI",
                "SwitchboardTesting",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwitchboardJSONTests",
            dependencies: ["SwitchboardJSON", "SwitchboardTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwitchboardAPITests",
            dependencies: [
                "SwitchboardAPI", "SwitchboardCore", "SwitchboardJSON", "SwitchboardTesting",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwitchboardAuthTests",
            dependencies: [
                "SwitchboardAuth", "SwitchboardCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwitchboardNATSClientTests",
            dependencies: [
                "SwitchboardNATSClient", "SwitchboardTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            // nats-py's side of the cross-check, run by the tests.
            exclude: ["Peers"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwitchboardNATSTests",
            dependencies: [
                "SwitchboardNATS", "SwitchboardNATSClient", "SwitchboardCore", "SwitchboardTesting",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwitchboardSQLiteTests",
            dependencies: ["SwitchboardSQLite", "SwitchboardCore", "SwitchboardTesting", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwitchboardRESPTests",
            dependencies: [
                "SwitchboardRESP", "SwitchboardTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwitchboardRedisTests",
            dependencies: ["SwitchboardCore", "SwitchboardJSON", "SwitchboardTesting", "SwitchboardRESP", "SwitchboardRedis"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwitchboardClientTests",
            dependencies: [
                "SwitchboardClient", "SwitchboardCore", "SwitchboardJSON", "SwitchboardAPI", "SwitchboardServer",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwitchboardServerTests",
            dependencies: [
                "SwitchboardCore", "SwitchboardJSON", "SwitchboardAPI",
                "SwitchboardServer", "SwitchboardAssets",
                "SwitchboardTesting",
                "SwitchboardAuth", "SwitchboardMCP",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
