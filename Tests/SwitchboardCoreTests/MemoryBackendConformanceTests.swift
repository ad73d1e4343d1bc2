import SwitchboardTesting
import SwitchboardCore
import Testing

@Suite("Memory backend conformance")
struct MemoryBackendConformanceTests {
    @Test(arguments: BackendConformance.checks)
    func check(_ check: BackendConformanceCheck) async throws {
        try await check.run(on: MemoryTaskBackend())
    }

    @Test("all checks also pass against one shared store")
    func sharedStore() async throws {
        let backend = MemoryTaskBackend()
        for check in BackendConformance.checks {
            try await check.run(on: backend)
        }
    }
}
