import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import SwitchboardAuth
import SwitchboardCore
import SwitchboardServer
import X509

/// What auth and TLS cost a single-task `POST /v1/tasks`: the same load against the same server
/// four ways, back to back in one run — plain, with a bearer token checked, over TLS, and both.
/// The plain server is the baseline; each other variant's ratio to it is its cost.
enum BenchSecure {
    static func run(quick: Bool) async throws {
        let duration: Duration = quick ? .seconds(2) : .seconds(10)
        let connections = 32
        let body = #"{"payload":{"tool_name":"echo","input":{"path":"/etc/hosts"},"reason":"bench"}}"#
        let token = TokenGenerator.make()
        let authenticator = Authenticator(
            tokens: TokenStore(
                entries: [TokenEntry(name: "bench", credential: .tokenHash(sha256(token)), scopes: [.producer])]),
            jwt: nil, certificateScopes: nil, defaultRateLimit: nil)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sb-bench-tls-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let files = try selfSignedCertificate(in: folder)
        var client = TLSConfiguration.makeClientConfiguration()
        client.trustRoots = .file(files.certificateChain)
        let clientContext = try NIOSSLContext(configuration: client)

        func rate(auth: Bool, tls: Bool) async throws -> Double {
            var security = SecuritySettings()
            if auth { security.authenticator = authenticator }
            if tls { security.tls = try ServerTLS(files) }
            var settings = ServerSettings()
            settings.security = security
            let metrics = ServerMetrics()
            let server = ControlPlane(
                engine: TaskEngine.memory(metricsFactory: metrics.factory), locks: MemoryLockService(), metrics: metrics, settings: settings,
                eventLoopGroup: BenchScenarios.serverLoops)
            return try await BenchHTTP.serve(
                server.router(context: SwitchboardRequestContext.self), server: server.httpServer, group: server.eventLoopGroup
            ) { port in
                try await BenchHTTP.load(
                    port: port, path: "/v1/tasks", body: body, connections: connections, for: duration, token: auth ? token : nil,
                    tls: tls ? clientContext : nil)
            }
        }

        let start = ContinuousClock.now
        let plain = try await rate(auth: false, tls: false)
        let withAuth = try await rate(auth: true, tls: false)
        let withTLS = try await rate(auth: false, tls: true)
        let both = try await rate(auth: true, tls: true)
        let seconds = BenchScenarios.seconds(since: start)
        func ratio(_ value: Double) -> String { String(format: "%.3f", value / max(plain, 1e-9)) }
        BenchResult(
            scenario: "http-secure", backend: "memory", tasks: Int(both * seconds), seconds: seconds,
            baselineName: "the same server without auth or TLS, \(connections) connections, same run", baselinePerSec: plain,
            extra: [
                ("auth_per_sec", "\(Int(withAuth))"), ("tls_per_sec", "\(Int(withTLS))"), ("auth_tls_per_sec", "\(Int(both))"),
                ("auth_ratio", ratio(withAuth)), ("tls_ratio", ratio(withTLS)), ("auth_tls_ratio", ratio(both)),
            ]
        ).print()
    }

    private static func sha256(_ token: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(token.utf8)))
    }

    /// A P-256 certificate for localhost, signed by its own key, as PEM files.
    private static func selfSignedCertificate(in folder: URL) throws -> ServerTLS.Files {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("localhost") }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: Date().addingTimeInterval(-60),
            notValidAfter: Date().addingTimeInterval(3600), issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                SubjectAlternativeNames([.dnsName("localhost")])
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            }, issuerPrivateKey: .init(key))
        let certificatePath = folder.appendingPathComponent("bench.crt").path
        let keyPath = folder.appendingPathComponent("bench.key").path
        try certificate.serializeAsPEM().pemString.write(toFile: certificatePath, atomically: true, encoding: .utf8)
        try key.pemRepresentation.write(toFile: keyPath, atomically: true, encoding: .utf8)
        return ServerTLS.Files(certificateChain: certificatePath, privateKey: keyPath)
    }
}
