import SwitchboardJSON
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A point in time as whole milliseconds since the Unix epoch (UTC).
///
/// Milliseconds are the resolution of every time in the API, so storing them as one integer keeps
/// tasks small and comparisons cheap; formatting to RFC 3339 happens only at the edges.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: Int64

    @inlinable
    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.milliseconds < rhs.milliseconds
    }

    public static func + (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(milliseconds: lhs.milliseconds &+ rhs.wholeMilliseconds)
    }

    public static func - (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(milliseconds: lhs.milliseconds &- rhs.wholeMilliseconds)
    }

    public static func - (lhs: Timestamp, rhs: Timestamp) -> Duration {
        .milliseconds(lhs.milliseconds &- rhs.milliseconds)
    }

    /// The current wall-clock time.
    public static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(milliseconds: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }

    public var description: String { rfc3339 }
}

extension Duration {
    /// The duration rounded down to whole milliseconds.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds &* 1000 &+ attoseconds / 1_000_000_000_000_000
    }
}

// MARK: - RFC 3339

extension Timestamp {
    /// `2026-11-27T10:00:00.000Z`: always UTC, always milliseconds, as DESIGN.md §2 fixes.
    public var rfc3339: String { RFC3339.string(milliseconds: milliseconds) }

    /// Appends `rfc3339`'s bytes.
    public func appendRFC3339(to bytes: inout [UInt8]) {
        RFC3339.append(milliseconds: milliseconds, to: &bytes)
    }

    /// Parses RFC 3339 date-times (`T` or `t`, fractional seconds of any length, `Z` or an offset).
    public init?(rfc3339 text: some StringProtocol) {
        self.init(rfc3339Bytes: Array(text.utf8)[...])
    }

    /// As `init?(rfc3339:)`, from UTF-8 bytes in place.
    public init?(rfc3339Bytes bytes: ArraySlice<UInt8>) {
        guard let milliseconds = RFC3339.milliseconds(bytes) else { return nil }
        self.init(milliseconds: milliseconds)
    }
}
