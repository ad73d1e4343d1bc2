import NIOCore
@testable import SwitchboardNATS
import SwitchboardCore
import SwitchboardNATSClient
import SwitchboardTesting
import Testing

@Suite("NATS locks against a real nats-server", .enabled(if: natsServerBinary != nil), .timeLimit(.minutes(1)))
struct NATSLockServiceTests {
    @Test("the lock contract", arguments: LockConformance.checks)
    func conformance(_ check: LockConformanceCheck) async throws {
        let server = try await NATSServerProcess(jetStream: true)
        let client = NATSClient(NATSClient.Configuration(url: try NATSURL(server.url())))
        defer {
            client.close()
            server.stop()
        }
        try await check.run(on: NATSLockService(client: client))
    }

    @Test("two services on one NATS share the locks: a grant by one is refused by the other, a release by one wakes a waiter of the other")
    func sharedAcrossServers() async throws {
        let server = try await NATSServerProcess(jetStream: true)
        let one = NATSClient(NATSClient.Configuration(url: try NATSURL(server.url())))
        let two = NATSClient(NATSClient.Configuration(url: try NATSURL(server.url())))
        defer {
            one.close()
            two.close()
            server.stop()
        }
        let a = NATSLockService(client: one)
        let b = NATSLockService(client: two)
        let held = try #require(try await a.acquire(key: "repo/main", holder: "server-1", ttl: .seconds(30), wait: .zero))
        #expect(try await b.acquire(key: "repo/main", holder: "server-2", ttl: .seconds(30), wait: .zero) == nil)
        #expect(try await b.lease(key: "repo/main")?.holder == "server-1")
        async let waiting = b.acquire(key: "repo/main", holder: "server-2", ttl: .seconds(30), wait: .seconds(20))
        try await Task.sleep(for: .milliseconds(150))
        try await a.release(key: "repo/main", holder: "server-1", token: held.token)
        let next = try #require(try await waiting)
        #expect(next.holder == "server-2" && next.token > held.token)
    }

    @Test("keys: any printable lock key, base64url in the bucket, and back")
    func keys() {
        for key in ["a", "repo/main", "with space.and.dots", "ünïcode ✓", String(repeating: "k", count: 256)] {
            let encoded = SubjectToken.encode(key)
            #expect(encoded.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
            #expect(SubjectToken.decode(encoded) == key)
        }
        #expect(NATSLockService.ttlHeader(.milliseconds(200))["Nats-TTL"] == "1s", "the server's minimum")
        #expect(NATSLockService.ttlHeader(.milliseconds(2500))["Nats-TTL"] == "3s")
    }

    @Test("NATS going away is 503 (unavailable), as for the other backends")
    func unavailable() async throws {
        let server = try await NATSServerProcess(jetStream: true)
        var configuration = NATSClient.Configuration(url: try NATSURL(server.url()))
        configuration.waitForConnection = .milliseconds(300)
        let client = NATSClient(configuration)
        defer { client.close() }
        let locks = NATSLockService(client: client)
        // Connected first (a loaded machine may take longer than the short wait below).
        for _ in 0..<500 where !client.isConnected { try await Task.sleep(for: .milliseconds(10)) }
        _ = try #require(try await locks.acquire(key: "k", holder: "h", ttl: .seconds(5), wait: .zero))
        server.stop()
        do {
            _ = try await locks.acquire(key: "other", holder: "h", ttl: .seconds(5), wait: .zero)
            Issue.record("granted with NATS down")
        } catch let error as SwitchboardError {
            #expect(error.kind == .unavailable, "\(error)")
        }
    }
}
