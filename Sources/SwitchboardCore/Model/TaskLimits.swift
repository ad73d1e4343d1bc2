import SwitchboardJSON

/// Size and range limits on what clients may submit. Every limit is checked before anything is
/// stored, so bad input changes nothing.
public struct TaskLimits: Sendable, Hashable {
    public var maxPayloadBytes = 256 * 1024
    public var maxResultBytes = 256 * 1024
    public var maxMetadataEntries = 32
    public var maxMetadataKeyLength = 64
    public var maxMetadataValueLength = 1024
    /// Longer failure messages are cut (not refused): a worker's report must always land.
    public var maxErrorMessageLength = 4096
    /// Failures kept per task, newest last; older ones are dropped to bound memory.
    public var maxErrorHistory = 20
    public var maxBatchSize = 1000
    public var maxRetries = 100
    public var maxTimeout: Duration = .seconds(86_400)
    /// The longest `delay_ms` (a `not_before` may be any time).
    public var maxDelay: Duration = .seconds(366 * 86_400)
    public var maxJSONDepth = JSONScanner.defaultMaxDepth

    public init() {}
}

/// The shapes of names, shared by every validator so the rules are stated once.
public enum NamePattern {
    /// `[a-z][a-z0-9_.-]{0,63}`: task types.
    public static func isTaskType(_ s: String) -> Bool {
        let u = s.utf8
        guard let first = u.first, (97...122).contains(first), u.count <= 64 else { return false }
        return u.allSatisfy { isLower($0) || isDigit($0) || $0 == 95 || $0 == 46 || $0 == 45 }
    }

    /// `[A-Za-z0-9_.:-]{1,max}`: queue names, task ids, run ids, worker ids. Braces are excluded
    /// on purpose: queue names become Redis hash tags (`sb:{queue}:…`).
    public static func isIdentifier(_ s: String, maxLength: Int) -> Bool {
        let u = s.utf8
        guard !u.isEmpty, u.count <= maxLength else { return false }
        return u.allSatisfy { isLower($0) || isUpper($0) || isDigit($0) || $0 == 95 || $0 == 46 || $0 == 58 || $0 == 45 }
    }

    /// Text without control characters, 1 to `maxLength` characters (Unicode scalars, as JSON
    /// Schema counts them): lock keys, holders, idempotency keys.
    public static func isPrintable(_ s: String, maxLength: Int) -> Bool {
        let scalars = s.unicodeScalars
        guard !scalars.isEmpty, scalars.count <= maxLength else { return false }
        return scalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
    }

    private static func isLower(_ c: UInt8) -> Bool { (97...122).contains(c) }
    private static func isUpper(_ c: UInt8) -> Bool { (65...90).contains(c) }
    private static func isDigit(_ c: UInt8) -> Bool { (48...57).contains(c) }
}
