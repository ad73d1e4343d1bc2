/// Appends JSON tokens to a buffer of its own. Hand-written because tasks embed opaque JSON
/// verbatim, which `JSONEncoder` cannot do, and because this is the hot path of every response:
/// a lease answer writes some thirty tokens per task, so each token is one capacity check and
/// one copy into memory the writer owns (an `Array` append checks uniqueness and capacity per
/// call, which cost as much as the writing). Not copyable, so that the buffer has one owner.
public struct JSONWriter: ~Copyable {
    @usableFromInline static let hexDigits = Array("0123456789abcdef".utf8)

    @usableFromInline var base: UnsafeMutablePointer<UInt8>
    @usableFromInline var count = 0
    @usableFromInline var capacity: Int
    @usableFromInline var needsComma = false
    /// The last time written and its text, and the last day's: the times of a lease answer
    /// repeat (every task of a batch was leased in the same millisecond) and share their day.
    @usableFromInline var lastTime = Int64.min
    @usableFromInline var lastTimeText: (UInt64, UInt64, UInt64) = (0, 0, 0)
    @usableFromInline var lastDay = Int64.min
    @usableFromInline var lastDayText: (UInt64, UInt64) = (0, 0)

    @inlinable public init(capacity: Int = 256) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit {
        base.deallocate()
    }

    /// What has been written so far (a copy).
    @inlinable public var bytes: [UInt8] {
        Array(UnsafeBufferPointer(start: base, count: count))
    }

    /// Starts over in the same memory (a writer reused for many documents).
    @inlinable public mutating func removeAll() {
        count = 0
        needsComma = false
    }

    /// What has been written so far, in place (to hand to a byte buffer without an extra copy).
    @inlinable public func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    @inlinable public mutating func beginObject() {
        separate()
        put(UInt8(ascii: "{"))
        needsComma = false
    }

    @inlinable public mutating func endObject() {
        put(UInt8(ascii: "}"))
        needsComma = true
    }

    @inlinable public mutating func beginArray() {
        separate()
        put(UInt8(ascii: "["))
        needsComma = false
    }

    @inlinable public mutating func endArray() {
        put(UInt8(ascii: "]"))
        needsComma = true
    }

    @inlinable public mutating func key(_ key: StaticString) {
        key.withUTF8Buffer { name in
            reserve(name.count + 4)
            if needsComma { putReserved(UInt8(ascii: ",")) }
            putReserved(UInt8(ascii: "\""))
            putReserved(name)
            putReserved(UInt8(ascii: "\""))
            putReserved(UInt8(ascii: ":"))
        }
        needsComma = false
    }

    /// A key known only at run time (a map's). Literal keys take `key(_:)`: a `String`
    /// overload of that name would win every literal and cost a `String` each.
    @inlinable public mutating func key(computed key: String) {
        string(key)
        put(UInt8(ascii: ":"))
        needsComma = false
    }

    @inlinable public mutating func string(_ value: String) {
        separate()
        var value = value
        value.withUTF8 { utf8 in
            // Most strings (ids, names, times) need no escaping: one check, one copy.
            if !Self.needsEscaping(utf8) {
                reserve(utf8.count + 2)
                putReserved(UInt8(ascii: "\""))
                putReserved(utf8)
                putReserved(UInt8(ascii: "\""))
            } else {
                put(UInt8(ascii: "\""))
                appendEscaped(utf8)
                put(UInt8(ascii: "\""))
            }
        }
        needsComma = true
    }

    @inlinable public mutating func string(_ value: String?) {
        if let value { string(value) } else { null() }
    }

    @inlinable public mutating func int(_ value: some BinaryInteger) {
        separate()
        if let small = Int64(exactly: value) {
            appendDecimal(small)
        } else {
            put(String(value))
        }
        needsComma = true
    }

    @inlinable public mutating func double(_ value: Double) {
        separate()
        if value.isFinite {
            if let exact = Int64(exactly: value) {
                put(String(exact))
            } else {
                put(String(value))
            }
        } else {
            put("null")
        }
        needsComma = true
    }

    @inlinable public mutating func bool(_ value: Bool) {
        separate()
        put(value ? "true" : "false")
        needsComma = true
    }

    /// An object of strings, keys sorted so equal maps write equal bytes.
    @inlinable public mutating func stringMap(_ map: [String: String]) {
        beginObject()
        if !map.isEmpty {
            for key in map.keys.sorted() {
                self.key(computed: key)
                string(map[key]!)
            }
        }
        endObject()
    }

    @inlinable public mutating func null() {
        separate()
        put("null")
        needsComma = true
    }

    /// An RFC 3339 time (`YYYY-MM-DDTHH:MM:SS.mmmZ`) from milliseconds since the epoch, or null.
    public mutating func time(milliseconds value: Int64?) {
        separate()
        if let value {
            if value != lastTime {
                lastTime = value
                let (day, msOfDay) = value.floorDivided(by: 86_400_000)
                if day != lastDay {
                    lastDay = day
                    withUnsafeMutableBytes(of: &lastDayText) { RFC3339.writeDate(day: day, into: $0) }
                }
                withUnsafeMutableBytes(of: &lastTimeText) { text in
                    withUnsafeBytes(of: lastDayText) { text.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<11])) }
                    RFC3339.writeTimeOfDay(msOfDay, into: text)
                }
            }
            reserve(26)
            putReserved(UInt8(ascii: "\""))
            withUnsafeBytes(of: lastTimeText) { putReserved($0.assumingMemoryBound(to: UInt8.self)) }
            putReserved(UInt8(ascii: "\""))
        } else {
            put("null")
        }
        needsComma = true
    }

    /// Embeds already-validated JSON as it is.
    @inlinable public mutating func raw(_ json: RawJSON?) {
        separate()
        if let json { json.bytes.withUnsafeBufferPointer { put($0) } } else { put("null") }
        needsComma = true
    }

    /// Whether any byte is a control character, a quote or a backslash — eight bytes at a time
    /// (every id, name and time of every task answer passes through here).
    @inlinable static func needsEscaping(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        if let base = utf8.baseAddress {
            while index + 8 <= utf8.count {
                if ASCIIWord.hasControlQuoteOrBackslash(UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)) { return true }
                index += 8
            }
        }
        while index < utf8.count {
            let c = utf8[index]
            if c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { return true }
            index += 1
        }
        return false
    }

    // MARK: Output

    @inline(__always)
    @inlinable mutating func separate() {
        if needsComma { put(UInt8(ascii: ",")) }
    }

    @inline(__always)
    @inlinable mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(toHold: count + extra) }
    }

    @usableFromInline mutating func grow(toHold needed: Int) {
        let newCapacity = max(needed, capacity * 2)
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.initialize(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always)
    @inlinable mutating func putReserved(_ byte: UInt8) {
        base[count] = byte
        count += 1
    }

    @inline(__always)
    @inlinable mutating func putReserved(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress else { return }
        (base + count).initialize(from: source, count: bytes.count)
        count += bytes.count
    }

    @inline(__always)
    @inlinable mutating func put(_ byte: UInt8) {
        reserve(1)
        putReserved(byte)
    }

    @inlinable mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
        reserve(bytes.count)
        putReserved(bytes)
    }

    @inlinable mutating func put(_ text: StaticString) {
        text.withUTF8Buffer { put($0) }
    }

    @inlinable mutating func put(_ text: String) {
        var text = text
        text.withUTF8 { put($0) }
    }

    @inlinable mutating func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        // At most six bytes (`\u00XX`) for each one.
        reserve(utf8.count * 6)
        for c in utf8 {
            switch c {
            case UInt8(ascii: "\""): putReserved(0x5C); putReserved(0x22)
            case UInt8(ascii: "\\"): putReserved(0x5C); putReserved(0x5C)
            case 0x0A: putReserved(0x5C); putReserved(UInt8(ascii: "n"))
            case 0x0D: putReserved(0x5C); putReserved(UInt8(ascii: "r"))
            case 0x09: putReserved(0x5C); putReserved(UInt8(ascii: "t"))
            case 0..<0x20:
                putReserved(0x5C); putReserved(UInt8(ascii: "u")); putReserved(0x30); putReserved(0x30)
                putReserved(Self.hexDigits[Int(c >> 4)])
                putReserved(Self.hexDigits[Int(c & 0xF)])
            default: putReserved(c)
            }
        }
    }

    /// Decimal digits without making a `String` first (counts and times fill every task).
    @inlinable mutating func appendDecimal(_ value: Int64) {
        reserve(20)
        if value < 0 { putReserved(UInt8(ascii: "-")) }
        var rest = value.magnitude
        guard rest >= 10 else { return putReserved(UInt8(truncatingIfNeeded: rest) + 48) }
        var digits = 0
        var probe = rest
        while probe > 0 {
            digits += 1
            probe /= 10
        }
        var at = count + digits
        count = at
        while rest > 0 {
            at -= 1
            base[at] = UInt8(truncatingIfNeeded: rest % 10) + 48
            rest /= 10
        }
    }
}
