import Foundation
import SwitchboardCore
import SwitchboardNATS
import SwitchboardNATSClient
import SwitchboardTesting
import Testing

/// A backend on its own real nats-server (JetStream, file storage in a temporary directory).
struct NATSBackendFixture {
    let server: NATSServerProcess
    let client: NATSClient
    let backend: NATSTaskBackend

    init(server: NATSServerProcess? = nil, prefix: String = "sb", markerTTL: Duration = .seconds(3600)) async throws {
        if let server {
            self.server = server
        } else {
            self.server = try await NATSServerProcess(jetStream: true)
        }
        client = NATSClient(NATSClient.Configuration(url: try NATSURL(self.server.url())))
        backend = NATSTaskBackend(client: client, prefix: prefix, markerTTL: markerTTL)
        try await backend.start()
    }

    func stop() {
        backend.close()
        client.close()
        server.stop()
    }
}

@Suite("NATS backend conformance", .enabled(if: natsServerBinary != nil), .timeLimit(.minutes(2)))
struct NATSBackendConformanceTests {
    @Test(arguments: BackendConformance.checks)
    func check(_ check: BackendConformanceCheck) async throws {
        let fixture = try await NATSBackendFixture()
        defer { fixture.stop() }
        try await check.run(on: fixture.backend)
    }

    @Test("all checks also pass against one shared stream")
    func sharedStore() async throws {
        let fixture = try await NATSBackendFixture()
        defer { fixture.stop() }
        for check in BackendConformance.checks {
            try await check.run(on: fixture.backend)
        }
    }
}
