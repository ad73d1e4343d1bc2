/// How safe stored tasks are from a restart or memory pressure, as a backend finds it: logged
/// when a server starts and shown by `/readyz`, so that nobody learns it from lost tasks.
public struct DurabilityReport: Sendable, Hashable {
    /// Whether acknowledged tasks survive a restart of the process (and of the store).
    public var survivesRestart: Bool
    /// What was found, by name (e.g. Redis's `appendonly`, `maxmemory-policy`).
    public var settings: [String: String]
    /// What an operator should change, in words.
    public var warnings: [String]

    public init(survivesRestart: Bool, settings: [String: String] = [:], warnings: [String] = []) {
        self.survivesRestart = survivesRestart
        self.settings = settings
        self.warnings = warnings
    }
}

/// An optional ability: a backend that can say how durable it is.
public protocol DurabilityReporting: Sendable {
    func durabilityReport() async throws -> DurabilityReport
}
