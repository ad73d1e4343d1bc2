import Foundation
import NIOSSL
import SwitchboardRESP
import Testing

/// `scripts/test.sh` starts a redis-server with TLS only, its certificate signed by a CA of
/// its own (SAN localhost), and names both here.
let testRedissURL: RedisURL? = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_REDISS_URL"].flatMap { try? RedisURL($0) }
let testRedisCA: String? = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_REDIS_CA"]

@Suite("TLS to a real redis-server", .enabled(if: testRedissURL != nil && testRedisCA != nil), .timeLimit(.minutes(1)))
struct TLSRedisTests {
    func client(trusting ca: String?) -> RedisClient {
        var configuration = RedisClient.Configuration(url: testRedissURL!)
        configuration.connectionCount = 1
        if let ca { configuration.tls.trustRoots = .file(ca) }
        return RedisClient(configuration)
    }

    @Test("rediss:// with the server's CA: commands, pipelines and scripts go over TLS")
    func trustedServer() async throws {
        let client = client(trusting: testRedisCA)
        #expect(try await client.send(RESPCommand("PING")).string == "PONG")
        let replies = try await client.pipeline([RESPCommand("SET", "tls-key", "over tls"), RESPCommand("GET", "tls-key")])
        #expect(replies[1].string == "over tls")
        let script = RedisScript("return ARGV[1] .. '!'")
        #expect(try await client.run(script, keys: [], arguments: ["hi"]).string == "hi!")
        await client.close()
    }

    @Test("a server whose certificate is not trusted is refused, and nothing is sent")
    func untrustedServer() async throws {
        let client = client(trusting: nil)
        await #expect(throws: RedisUnavailable.self) { try await client.send(RESPCommand("PING")) }
        await client.close()
    }

    @Test("by address, the certificate's IP entry is what is checked")
    func byAddress() async throws {
        var url = testRedissURL!
        url.host = "127.0.0.1"  // no SNI for an address; the certificate lists 127.0.0.1
        var configuration = RedisClient.Configuration(url: url)
        configuration.tls.trustRoots = .file(testRedisCA!)
        let byAddress = RedisClient(configuration)
        #expect(try await byAddress.send(RESPCommand("PING")).string == "PONG")
        await byAddress.close()
    }
}
