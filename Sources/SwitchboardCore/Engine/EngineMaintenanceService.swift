import Logging
import ServiceLifecycle

/// Runs the engine's maintenance passes for as long as the service group runs. It sleeps until
/// the next deadline the backend reports (a scheduled task due, a lease expiring), bounded by
/// `maintenanceInterval`, and stops at graceful shutdown. Beside it, it follows a shared
/// backend's feed of work made ready by other processes (`TaskEngine.followReadyEvents`).
public struct EngineMaintenanceService: Service {
    let engine: TaskEngine

    public init(engine: TaskEngine) {
        self.engine = engine
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await engine.followReadyEvents() }
                group.addTask { await maintain() }
            }
        }
    }

    private func maintain() async {
        while !Task.isCancelled {
            let next: Timestamp
            do {
                next = try await engine.performMaintenance()
            } catch {
                engine.logger.error("maintenance pass failed", metadata: ["error": "\(error)"])
                engine.noteMaintenanceFailed()
                next = engine.clock.now() + engine.configuration.maintenanceInterval
            }
            do { try await engine.clock.sleep(until: next) } catch { return }
        }
    }
}
