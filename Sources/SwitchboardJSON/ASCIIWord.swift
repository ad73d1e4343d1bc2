/// Eight bytes of text checked at once for what JSON strings treat specially: control
/// characters, quotes and backslashes (and, for reading, bytes of multi-byte UTF-8). Reading and
/// writing task JSON is mostly copying plain ASCII — ids, names, times — past these checks.
@usableFromInline
enum ASCIIWord {
    @usableFromInline static let ones: UInt64 = 0x0101_0101_0101_0101
    @usableFromInline static let highs: UInt64 = 0x8080_8080_8080_8080

    /// Whether one of the eight bytes is below 0x20, a `"` or a `\`. Exact for the word as a
    /// whole: a borrow only crosses into the next byte from a byte that matched already.
    @inlinable static func hasControlQuoteOrBackslash(_ word: UInt64) -> Bool {
        let below = (word &- ones &* 0x20) & ~word & highs
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let zero = ((quote &- ones) & ~quote | (backslash &- ones) & ~backslash) & highs
        return below | zero != 0
    }

    /// As `hasControlQuoteOrBackslash`, or a byte of 0x80 and above.
    @inlinable static func hasSpecialOrNonASCII(_ word: UInt64) -> Bool {
        word & highs != 0 || hasControlQuoteOrBackslash(word)
    }

    /// The first index from `start` up to `end` whose byte is not plain printable ASCII
    /// (a control character, `"`, `\` or a byte of 0x80 and above); `end` when there is none.
    @inlinable static func plainRunEnd(in bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Int {
        var index = start
        if let base = bytes.baseAddress {
            while index + 8 <= end, !hasSpecialOrNonASCII(UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)) {
                index += 8
            }
        }
        while index < end {
            let c = bytes[index]
            if c < 0x20 || c >= 0x80 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { break }
            index += 1
        }
        return index
    }
}
