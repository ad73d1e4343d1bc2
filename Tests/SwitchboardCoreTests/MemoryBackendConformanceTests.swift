import SwitchboardCore
import SwitchboardJSON
import SwitchboardTesting
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

@Suite("Backend roles")
struct BackendRoleTests {
    @Test("the memory backend plays every role")
    func memoryRoles() {
        #expect(BackendRole.roles(of: MemoryTaskBackend()) == Set(BackendRole.allCases))
        #expect(BackendConformance.checks(for: MemoryTaskBackend()).count == BackendConformance.checks.count)
    }

    @Test("a backend with the essential roles only passes their checks, and only theirs run")
    func essentialsOnly() async throws {
        let backend = EssentialsOnlyBackend()
        #expect(BackendRole.roles(of: backend) == [.transitions, .queries, .maintenance])
        let checks = BackendConformance.checks(for: backend)
        #expect(Set(checks.map(\.role)) == [.transitions, .queries, .maintenance])
        #expect(checks.count < BackendConformance.checks.count)
        for check in checks { try await check.run(on: backend) }
    }

    @Test("without an optional ability the engine answers unsupported for it and runs the rest")
    func engineWithoutOptionalAbilities() async throws {
        let h = EngineHarness(backend: EssentialsOnlyBackend())
        let task = try await h.engine.enqueue(TaskSubmission(type: "job", payload: .null, maxRetries: 0)).task
        let lease = try #require(try await h.engine.lease(LeaseRequest(workerID: "w", queues: ["default"])).first)
        let dead = try await h.engine.fail(leaseID: lease.leaseID, failure: TaskFailureReport(message: "x", retryable: false))
        #expect(dead.status == .dead)
        #expect(try await h.engine.deadLetters().items.map(\.id) == [task.id], "dead tasks are still listed")
        await expectError(.unsupported, mentioning: "dead letters") { try await h.engine.requeueDead(id: task.id) }
        await expectError(.unsupported, mentioning: "dead letters") { try await h.engine.requeueDead() }
        await expectError(.unsupported, mentioning: "dead letters") { try await h.engine.deleteDead(id: task.id) }
        await expectError(.unsupported, mentioning: "dead letters") { try await h.engine.purgeDead() }
        await expectError(.unsupported, mentioning: "pause") { try await h.engine.pause(queue: "default") }
        await expectError(.unsupported, mentioning: "pause") { try await h.engine.resume(queue: "default") }
        // Maintenance leaves retention out and does the rest.
        _ = try await h.engine.performMaintenance()
        #expect(try await h.engine.task(id: task.id).status == .dead)
    }
}
