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
    public var rfc3339: String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(24)
        appendRFC3339(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, composed on the stack and appended in one go (every task
    /// answer carries several).
    public func appendRFC3339(to bytes: inout [UInt8]) {
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &scratch) { text in
            writeRFC3339(into: text)
            bytes.append(contentsOf: text)
        }
    }

    /// The 24 bytes of `YYYY-MM-DDTHH:MM:SS.mmmZ` into `text`.
    func writeRFC3339(into text: UnsafeMutableRawBufferPointer) {
        let (day, msOfDay) = milliseconds.floorDivided(by: 86_400_000)
        Self.writeDate(day: day, into: text)
        Self.writeTimeOfDay(msOfDay, into: text)
    }

    /// `YYYY-MM-DDT`, the first 11 bytes, for a day since the epoch.
    static func writeDate(day: Int64, into text: UnsafeMutableRawBufferPointer) {
        precondition(text.count >= 11)
        let (year, month, dayOfMonth) = civilDate(fromDaysSinceEpoch: day)
        putDigits(year, 4, at: 0, in: text)
        text[4] = UInt8(ascii: "-")
        putDigits(month, 2, at: 5, in: text)
        text[7] = UInt8(ascii: "-")
        putDigits(dayOfMonth, 2, at: 8, in: text)
        text[10] = UInt8(ascii: "T")
    }

    /// `HH:MM:SS.mmmZ`, bytes 11 to 23.
    static func writeTimeOfDay(_ msOfDay: Int64, into text: UnsafeMutableRawBufferPointer) {
        precondition(text.count >= 24)
        putDigits(msOfDay / 3_600_000, 2, at: 11, in: text)
        text[13] = UInt8(ascii: ":")
        putDigits(msOfDay / 60_000 % 60, 2, at: 14, in: text)
        text[16] = UInt8(ascii: ":")
        putDigits(msOfDay / 1000 % 60, 2, at: 17, in: text)
        text[19] = UInt8(ascii: ".")
        putDigits(msOfDay % 1000, 3, at: 20, in: text)
        text[23] = UInt8(ascii: "Z")
    }

    private static func putDigits(_ value: Int64, _ count: Int, at offset: Int, in text: UnsafeMutableRawBufferPointer) {
        var v = value
        for k in stride(from: offset + count - 1, through: offset, by: -1) {
            text[k] = UInt8(truncatingIfNeeded: 48 + v % 10)
            v /= 10
        }
    }

    /// Parses RFC 3339 date-times (`T` or `t`, fractional seconds of any length, `Z` or an offset).
    public init?(rfc3339 text: some StringProtocol) {
        self.init(rfc3339Bytes: Array(text.utf8)[...])
    }

    /// As `init?(rfc3339:)`, from UTF-8 bytes in place (a client reads several per task).
    public init?(rfc3339Bytes b: ArraySlice<UInt8>) {
        var i = b.startIndex
        let end = b.endIndex
        func number(_ width: Int) -> Int64? {
            guard i + width <= end else { return nil }
            var value: Int64 = 0
            for _ in 0..<width {
                let c = b[i]
                guard c >= 48, c <= 57 else { return nil }
                value = value * 10 + Int64(c - 48)
                i += 1
            }
            return value
        }
        func expect(_ chars: UInt8...) -> Bool {
            guard i < end, chars.contains(b[i]) else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect(45), let month = number(2), expect(45), let day = number(2),
            expect(84, 116, 32), let hour = number(2), expect(58), let minute = number(2), expect(58),
            let second = number(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month),
            hour < 24, minute < 60, second < 61
        else { return nil }
        var fractionMs: Int64 = 0
        if i < end, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < end, b[i] >= 48, b[i] <= 57 {
                if digits < 3 { fractionMs = fractionMs * 10 + Int64(b[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 3) { fractionMs *= 10 }
        }
        var offsetMinutes: Int64 = 0
        guard i < end else { return nil }
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let oh = number(2), expect(58), let om = number(2), oh < 24, om < 60 else { return nil }
            offsetMinutes = sign * (oh * 60 + om)
        default:
            return nil
        }
        guard i == end else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offsetMinutes * 60
        self.init(milliseconds: seconds * 1000 + fractionMs)
    }
}

extension Int64 {
    func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        var q = self / divisor
        var r = self % divisor
        if r < 0 {
            q -= 1
            r += divisor
        }
        return (q, r)
    }
}

// Howard Hinnant's days_from_civil / civil_from_days: exact for the proleptic Gregorian calendar.
private func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let mp = (month + 9) % 12
    let doy = (153 * mp + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

private func civilDate(fromDaysSinceEpoch days: Int64) -> (Int64, Int64, Int64) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    return (month <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, month, day)
}

private func daysInMonth(year: Int64, month: Int64) -> Int64 {
    switch month {
    case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}
