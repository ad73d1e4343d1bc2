import Foundation
import SwitchboardAuth
import SwitchboardCore
import Testing

@Suite("Static tokens")
struct TokenTests {
    static let now = Timestamp(rfc3339: "2026-11-29T12:00:00Z")!

    func entry(_ name: String, token: String, scopes: String = "worker", extra: String = "") -> String {
        "  - {name: \(name), sha256: \(TokenGenerator.sha256Hex(of: token)), scopes: [\(scopes)]\(extra)}"
    }

    @Test("a new token is sbt_ and 256 random bits; its file entry reads back to the same principal")
    func createAndRead() throws {
        let token = TokenGenerator.make()
        #expect(token.hasPrefix("sbt_"))
        #expect(token.count == 4 + 43, "256 bits in unpadded base64url")
        #expect(token.dropFirst(4).allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(TokenGenerator.make() != token)
        let line = TokenGenerator.fileEntry(
            name: "ci", scopes: [.worker, .viewer], queues: ["billing"], expires: "2027-01-01T00:00:00Z", token: token)
        let entries = try TokenFile.parse("tokens:\n\(line)\n", origin: "test")
        #expect(entries.count == 1)
        #expect(entries[0].name == "ci")
        #expect(entries[0].scopes == [.worker, .viewer])
        #expect(entries[0].queues == ["billing"])
        #expect(entries[0].expires == Timestamp(rfc3339: "2027-01-01T00:00:00Z"))
        let store = TokenStore(entries: entries)
        let principal = try store.principal(forToken: token, now: Self.now)
        #expect(principal.name == "ci" && principal.source == .token && principal.queues == ["billing"])
    }

    @Test("the SHA-256 in the file is of the token's bytes (as sha256sum prints it)")
    func knownHash() {
        #expect(TokenGenerator.sha256Hex(of: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("unknown, altered and expired tokens are refused; the refusal never repeats the token")
    func refusals() throws {
        let good = TokenGenerator.make()
        let old = TokenGenerator.make()
        let store = TokenStore(
            entries: try TokenFile.parse(
                """
                tokens:
                \(entry("good", token: good))
                \(entry("old", token: old, extra: ", expires: \"2026-01-01T00:00:00Z\""))
                """, origin: "test"))
        #expect(try store.principal(forToken: good, now: Self.now).name == "good")
        for bad in [TokenGenerator.make(), String(good.dropLast()), good + "x", "", "Bearer \(good)"] {
            let error = #expect(throws: AuthError.self) { try store.principal(forToken: bad, now: Self.now) }
            #expect(error?.kind == .unauthenticated)
            if !bad.isEmpty { #expect(error.map { !$0.detail.contains(bad) } ?? false) }
        }
        let expired = #expect(throws: AuthError.self) { try store.principal(forToken: old, now: Self.now) }
        #expect(expired?.detail.contains("expired") == true)
        #expect(expired.map { !$0.detail.contains(old) } ?? false)
    }

    @Test("a token file in JSON, or as a bare list, reads the same")
    func formats() throws {
        let hash = TokenGenerator.sha256Hex(of: "t")
        let json = #"{"tokens": [{"name": "a", "sha256": "\#(hash)", "scopes": "viewer operator", "rate_limit": 5, "burst": 10}]}"#
        let list = "- name: a\n  sha256: \(hash)\n  scopes: [viewer, operator]\n  rate_limit: 5\n  burst: 10\n"
        for text in [json, list] {
            let entries = try TokenFile.parse(text, origin: "test")
            #expect(entries.map(\.name) == ["a"])
            #expect(entries[0].scopes == [.viewer, .operator])
            #expect(entries[0].rateLimit == RateLimit(perSecond: 5, burst: 10))
        }
        #expect(try TokenFile.parse("tokens: []", origin: "test").isEmpty)
    }

    @Test(
        "a broken entry is refused at load, naming the entry and the rule",
        arguments: [
            ("tokens: [{sha256: 00, scopes: [worker]}]", "name is required"),
            ("tokens: [{name: a, scopes: [worker]}]", "exactly one of sha256 and client_certificate"),
            ("tokens: [{name: a, sha256: abc, scopes: [worker]}]", "64 hex digits"),
            ("tokens: [{name: a, sha256: \(String(repeating: "g", count: 64)), scopes: [worker]}]", "64 hex digits"),
            ("tokens: [{name: a, sha256: \(String(repeating: "0", count: 64))}]", "scopes is required"),
            ("tokens: [{name: a, sha256: \(String(repeating: "0", count: 64)), scopes: [root]}]", "unknown scope \"root\""),
            ("tokens: [{name: a, sha256: \(String(repeating: "0", count: 64)), scopes: []}]", "at least one scope"),
            ("tokens: [{name: a, sha256: \(String(repeating: "0", count: 64)), scopes: [worker], queues: [\"a b\"]}]", "not a queue name"),
            ("tokens: [{name: a, sha256: \(String(repeating: "0", count: 64)), scopes: [worker], expires: soon}]", "RFC 3339"),
            ("tokens: [{name: a, sha256: \(String(repeating: "0", count: 64)), scopes: [worker], rate_limit: 0}]", "rate_limit"),
            ("tokens: [{name: a, sha256: \(String(repeating: "0", count: 64)), scopes: [worker], burst: 3}]", "burst needs rate_limit"),
            (
                "tokens: [{name: a, sha256: \(String(repeating: "0", count: 64)), scopes: [worker]}, {name: a, sha256: \(String(repeating: "1", count: 64)), scopes: [worker]}]",
                "used twice"
            ),
            ("tokens: {name: a}", "not a token list"),
            ("[[[", "not a token list"),
        ])
    func brokenEntries(text: String, mentioning: String) {
        let error = #expect(throws: AuthError.self) { try TokenFile.parse(text, origin: "file.yaml") }
        #expect(error?.kind == .configuration)
        #expect(error?.detail.contains(mentioning) == true, "\(error?.detail ?? "")")
        #expect(error?.detail.contains("file.yaml") == true)
    }

    @Test("reload replaces every entry; a broken file keeps the old ones")
    func reload() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-tokens-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("tokens.yaml").path
        let first = TokenGenerator.make()
        let second = TokenGenerator.make()
        try "tokens:\n\(entry("first", token: first))\n".write(toFile: path, atomically: true, encoding: .utf8)
        let store = try TokenStore(.init(file: path))
        #expect(try store.principal(forToken: first, now: Self.now).name == "first")

        try "tokens:\n\(entry("second", token: second))\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try store.reload() == 1)
        #expect(throws: AuthError.self) { try store.principal(forToken: first, now: Self.now) }
        #expect(try store.principal(forToken: second, now: Self.now).name == "second")

        try "tokens: [{name: broken}]".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: AuthError.self) { try store.reload() }
        #expect(try store.principal(forToken: second, now: Self.now).name == "second", "the old entries stay")

        try FileManager.default.removeItem(atPath: path)
        let missing = #expect(throws: AuthError.self) { try store.reload() }
        #expect(missing?.detail.contains("cannot be read") == true)
    }

    @Test("the environment's entries add to the file's; a name in both is refused")
    func environment() throws {
        let token = TokenGenerator.make()
        let environment = "[{name: env, sha256: \(TokenGenerator.sha256Hex(of: token)), scopes: [producer]}]"
        let store = try TokenStore(.init(environment: environment))
        #expect(try store.principal(forToken: token, now: Self.now).name == "env")
        #expect(store.count == 1)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-env-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("tokens.json").path
        try #"{"tokens": [{"name": "env", "sha256": "\#(String(repeating: "0", count: 64))", "scopes": ["viewer"]}]}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let twice = #expect(throws: AuthError.self) { try TokenStore(.init(file: path, environment: environment)) }
        #expect(twice?.detail.contains("used by two tokens") == true)
    }

    @Test("client-certificate rules match names by pattern, case-insensitively; expired rules do not")
    func certificateRules() throws {
        let store = TokenStore(
            entries: try TokenFile.parse(
                """
                tokens:
                  - {name: fleet, client_certificate: "*.workers.example.com", scopes: [worker], queues: [gpu]}
                  - {name: ops, client_certificate: "ops-*", scopes: [operator]}
                  - {name: gone, client_certificate: "gone.example.com", scopes: [admin], expires: "2020-01-01T00:00:00Z"}
                """, origin: "test"))
        let fleet = store.principal(forCertificateNames: ["W1.Workers.Example.com"], now: Self.now)
        #expect(fleet?.name == "fleet" && fleet?.scopes == [.worker] && fleet?.queues == ["gpu"] && fleet?.source == .certificate)
        #expect(store.principal(forCertificateNames: ["x", "ops-alice"], now: Self.now)?.name == "ops")
        #expect(store.principal(forCertificateNames: ["workers.example.com.evil"], now: Self.now) == nil)
        #expect(store.principal(forCertificateNames: ["gone.example.com"], now: Self.now) == nil)
        #expect(store.principal(forCertificateNames: [], now: Self.now) == nil)
        // A token never matches a certificate rule.
        #expect(throws: AuthError.self) { try store.principal(forToken: "ops-alice", now: Self.now) }
    }

    @Test("scopes: admin holds every scope; queue limits refuse other queues")
    func principals() throws {
        let producer = Principal(name: "p", scopes: [.producer], queues: ["billing"], source: .token)
        #expect(producer.holds(anyOf: [.producer, .operator]))
        #expect(!producer.holds(anyOf: [.operator]))
        #expect(producer.mayUse(queue: "billing") && !producer.mayUse(queue: "default"))
        #expect(throws: AuthError.self) { try producer.authorize(queue: "default") }
        #expect(Principal(name: "a", scopes: [.admin], source: .token).holds(anyOf: [.worker]))
        #expect(Principal.anonymous.holds(anyOf: [.operator]) && Principal.anonymous.mayUse(queue: "any"))
        #expect(throws: AuthError.self) { try Scope.list("viewer,wizard") }
        #expect(try Scope.list("viewer, operator worker") == [.viewer, .operator, .worker])
    }
}

@Suite("Rate limits")
struct RateLimiterTests {
    @Test("a bucket admits its burst, then one request per 1/rate seconds, and says how long to wait")
    func bucket() {
        let limiter = RateLimiter()
        let limit = RateLimit(perSecond: 10, burst: 3)
        let start = ContinuousClock.now
        for _ in 0..<3 { #expect(limiter.admit("a", limit: limit, at: start) == nil) }
        let wait = limiter.admit("a", limit: limit, at: start)
        #expect(wait == .milliseconds(100))
        #expect(limiter.admit("b", limit: limit, at: start) == nil, "each principal has its own bucket")
        #expect(limiter.admit("a", limit: limit, at: start + .milliseconds(50)) != nil)
        #expect(limiter.admit("a", limit: limit, at: start + .milliseconds(110)) == nil)
        #expect(limiter.admit("a", limit: limit, at: start + .milliseconds(110)) != nil)
        // Idle for long: back to a full burst, never more.
        for _ in 0..<3 { #expect(limiter.admit("a", limit: limit, at: start + .seconds(60)) == nil) }
        #expect(limiter.admit("a", limit: limit, at: start + .seconds(60)) != nil)
    }

    @Test("the map of buckets stays bounded: refilled buckets are dropped when it is full")
    func bounded() {
        let limiter = RateLimiter(maxKeys: 10)
        let limit = RateLimit(perSecond: 1000, burst: 1)
        let start = ContinuousClock.now
        for index in 0..<100 { _ = limiter.admit("k\(index)", limit: limit, at: start + .seconds(index)) }
        #expect(limiter.admit("k99", limit: limit, at: start + .seconds(99)) != nil, "the newest bucket is still there")
        #expect(limiter.admit("fresh", limit: limit, at: start + .seconds(200)) == nil)
    }
}
