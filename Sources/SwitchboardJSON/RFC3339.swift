/// RFC 3339 date-times as milliseconds since the Unix epoch: `YYYY-MM-DDTHH:MM:SS.mmmZ`,
/// always UTC and always milliseconds when written; any offset and fraction when read.
public enum RFC3339 {
    /// The 24 bytes of `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func string(milliseconds: Int64) -> String {
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return withUnsafeMutableBytes(of: &scratch) { text in
            write(milliseconds: milliseconds, into: text)
            return String(decoding: text, as: UTF8.self)
        }
    }

    /// Appends the 24 bytes, composed on the stack and appended in one go.
    public static func append(milliseconds: Int64, to bytes: inout [UInt8]) {
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &scratch) { text in
            write(milliseconds: milliseconds, into: text)
            bytes.append(contentsOf: text)
        }
    }

    static func write(milliseconds: Int64, into text: UnsafeMutableRawBufferPointer) {
        let (day, msOfDay) = milliseconds.floorDivided(by: 86_400_000)
        writeDate(day: day, into: text)
        writeTimeOfDay(msOfDay, into: text)
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

    /// Parses an RFC 3339 date-time (`T` or `t`, fractional seconds of any length, `Z` or an
    /// offset) from UTF-8 bytes in place; nil when it is not one.
    public static func milliseconds(_ b: ArraySlice<UInt8>) -> Int64? {
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
        return seconds * 1000 + fractionMs
    }
}

extension Int64 {
    /// Division rounding towards minus infinity, with a remainder that is never negative.
    public func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
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
