import Crypto
import Foundation
import JWTKit
import SwiftASN1
import SwitchboardAuth
import SwitchboardCore
import Testing
import X509

/// What an identity provider would sign.
struct ProviderClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var nbf: NotBeforeClaim?
    var iss: IssuerClaim?
    var aud: AudienceClaim?
    var scope: String?
    var switchboard_queues: [String]?

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

@Suite("JWTs")
struct JWTTests {
    /// A folder with the verifier's key files, removed when the test ends.
    final class Files {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-jwt-\(UUID())")

        init() throws { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(at: directory) }

        func write(_ name: String, _ text: String) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
    }

    static let secret = "a-shared-secret-of-at-least-32-bytes!"

    func claims(
        sub: String = "agent-7", scope: String? = "producer viewer", expiresIn: TimeInterval = 300, iss: String? = "https://idp.example",
        aud: String? = "switchboard", queues: [String]? = nil, notBefore: Date? = nil
    ) -> ProviderClaims {
        ProviderClaims(
            sub: .init(value: sub), exp: .init(value: Date().addingTimeInterval(expiresIn)), nbf: notBefore.map { .init(value: $0) },
            iss: iss.map { .init(value: $0) }, aud: aud.map { .init(value: [$0]) }, scope: scope, switchboard_queues: queues)
    }

    @Test("an HS256 token from the configured secret gives its subject's scopes and queues")
    func hmac() async throws {
        let files = try Files()
        let verifier = try await JWTVerifier(
            .init(secretFile: try files.write("secret", Self.secret + "\n"), issuer: "https://idp.example", audience: "switchboard"))
        let signer = JWTKeyCollection()
        await signer.add(hmac: HMACKey(from: Self.secret), digestAlgorithm: .sha256)
        let principal = try await verifier.principal(forToken: try await signer.sign(claims(queues: ["billing"])))
        #expect(principal.name == "jwt:agent-7")
        #expect(principal.scopes == [.producer, .viewer])
        #expect(principal.queues == ["billing"])
        #expect(principal.source == .jwt)
    }

    @Test("expired, not-yet-valid, foreign-issuer, wrong-audience, badly-signed and scope-less tokens are refused")
    func refusals() async throws {
        let files = try Files()
        let verifier = try await JWTVerifier(
            .init(secretFile: try files.write("secret", Self.secret), issuer: "https://idp.example", audience: "switchboard"))
        let signer = JWTKeyCollection()
        await signer.add(hmac: HMACKey(from: Self.secret), digestAlgorithm: .sha256)
        let stranger = JWTKeyCollection()
        await stranger.add(hmac: HMACKey(from: String(Self.secret.reversed())), digestAlgorithm: .sha256)
        let cases: [(String, String)] = [
            (try await signer.sign(claims(expiresIn: -60)), "claim"),
            (try await signer.sign(claims(notBefore: Date().addingTimeInterval(600))), "claim"),
            (try await signer.sign(claims(iss: "https://evil.example")), "issuer"),
            (try await signer.sign(claims(aud: "another-service")), "audience"),
            (try await signer.sign(claims(aud: nil)), "audience"),
            (try await stranger.sign(claims()), "signature"),
            (try await signer.sign(claims(scope: nil)), "missing"),
            (try await signer.sign(claims(scope: "producer superuser")), "unknown scope"),
            (try await signer.sign(claims(queues: ["a b"])), "queue name"),
            ("not.a.jwt", "not valid"),
        ]
        for (token, reason) in cases {
            let error = await #expect(throws: AuthError.self) { try await verifier.principal(forToken: token) }
            #expect(error?.kind == .unauthenticated)
            #expect(error?.detail.contains(reason) == true, "\(error?.detail ?? "") should mention \(reason)")
        }
    }

    @Test("public keys from PEM files (P-256, Ed25519) and a JWKS verify their own signatures only")
    func publicKeys() async throws {
        let files = try Files()
        let ecdsa = ES256PrivateKey()
        let ecdsaVerifier = try await JWTVerifier(.init(keyFile: try files.write("p256.pem", ecdsa.publicKey.pemRepresentation)))
        let ecdsaSigner = JWTKeyCollection()
        await ecdsaSigner.add(ecdsa: ecdsa)
        #expect(try await ecdsaVerifier.principal(forToken: try await ecdsaSigner.sign(claims(scope: "worker"))).scopes == [.worker])

        let edKey = try EdDSA.PrivateKey()
        let edVerifier = try await JWTVerifier(.init(keyFile: try files.write("ed.pem", edKey.publicKey.pemRepresentation)))
        let edSigner = JWTKeyCollection()
        await edSigner.add(eddsa: edKey)
        #expect(try await edVerifier.principal(forToken: try await edSigner.sign(claims(scope: "operator"))).scopes == [.operator])
        await #expect(throws: AuthError.self) { try await edVerifier.principal(forToken: try await ecdsaSigner.sign(claims())) }

        let jwkKey = ES256PrivateKey()
        let (x, y) = try #require(jwkKey.publicKey.parameters)
        let jwks = #"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "x": "\#(x)", "y": "\#(y)"}]}"#
        let jwksVerifier = try await JWTVerifier(.init(keyFile: try files.write("keys.json", jwks)))
        let kidSigner = JWTKeyCollection()
        await kidSigner.add(ecdsa: jwkKey, kid: "k1")
        #expect(try await jwksVerifier.principal(forToken: try await kidSigner.sign(claims(), kid: "k1")).name == "jwt:agent-7")
        await #expect(throws: AuthError.self) { try await jwksVerifier.principal(forToken: try await ecdsaSigner.sign(claims())) }
    }

    @Test("unusable keys refuse to start")
    func badKeys() async throws {
        let files = try Files()
        let short = await #expect(throws: AuthError.self) { try await JWTVerifier(.init(secretFile: try files.write("s", "short"))) }
        #expect(short?.detail.contains("at least 32 bytes") == true)
        let garbage = await #expect(throws: AuthError.self) { try await JWTVerifier(.init(keyFile: try files.write("k.pem", "hello"))) }
        #expect(garbage?.kind == .configuration)
        let missing = await #expect(throws: AuthError.self) { try await JWTVerifier(.init(keyFile: "/nonexistent/key.pem")) }
        #expect(missing?.detail.contains("cannot be read") == true)
    }

    @Test("the authenticator tells JWTs from static tokens, refuses a bad one even with a certificate, and meters principals")
    func authenticator() async throws {
        let files = try Files()
        let token = TokenGenerator.make()
        let store = TokenStore(
            entries: try TokenFile.parse(
                """
                tokens:
                  - {name: ci, sha256: \(TokenGenerator.sha256Hex(of: token)), scopes: [worker], rate_limit: 1, burst: 2}
                  - {name: fleet, client_certificate: "*.fleet", scopes: [worker]}
                """, origin: "test"))
        let auth = Authenticator(
            tokens: store, jwt: try await JWTVerifier(.init(secretFile: try files.write("s", Self.secret))), certificateScopes: [.viewer],
            defaultRateLimit: RateLimit(perSecond: 1000))
        let now = Timestamp.now()
        #expect(try await auth.authenticate(bearer: token, certificateNames: nil, now: now)?.name == "ci")
        let signer = JWTKeyCollection()
        await signer.add(hmac: HMACKey(from: Self.secret), digestAlgorithm: .sha256)
        #expect(try await auth.authenticate(bearer: try await signer.sign(claims()), certificateNames: nil, now: now)?.source == .jwt)
        #expect(try await auth.authenticate(bearer: nil, certificateNames: ["w1.fleet"], now: now)?.name == "fleet")
        #expect(try await auth.authenticate(bearer: nil, certificateNames: ["someone"], now: now)?.scopes == [.viewer])
        #expect(try await auth.authenticate(bearer: nil, certificateNames: nil, now: now) == nil)
        await #expect(throws: AuthError.self) { try await auth.authenticate(bearer: "sbt_wrong", certificateNames: ["w1.fleet"], now: now) }

        let ci = try #require(try await auth.authenticate(bearer: token, certificateNames: nil, now: now))
        let start = ContinuousClock.now
        try auth.admit(ci, at: start)
        try auth.admit(ci, at: start)
        let limited = #expect(throws: AuthError.self) { try auth.admit(ci, at: start) }
        #expect(limited?.kind == .rateLimited(retryAfter: .seconds(1)))
        #expect(Authenticator.disabled().isEnabled == false)
        #expect(try await Authenticator.disabled().authenticate(bearer: "anything", certificateNames: nil, now: now) == .anonymous)
    }
}

@Suite("Client certificate names")
struct CertificateNameTests {
    @Test("DNS, URI, email and IP names, then the common name, are what rules match")
    func names() async throws {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("worker-cn") }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: Date(),
            notValidAfter: Date().addingTimeInterval(3600), issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                SubjectAlternativeNames([
                    .dnsName("w1.workers.example"), .uniformResourceIdentifier("spiffe://example/worker"), .rfc822Name("ops@example.com"),
                    .ipAddress(ASN1OctetString(contentBytes: [10, 0, 0, 7])),
                ])
            }, issuerPrivateKey: .init(key))
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        #expect(
            CertificateNames.of(derEncoded: serializer.serializedBytes) == [
                "w1.workers.example", "spiffe://example/worker", "ops@example.com", "10.0.0.7", "worker-cn",
            ])
        #expect(CertificateNames.of(derEncoded: [1, 2, 3]).isEmpty)
    }
}
