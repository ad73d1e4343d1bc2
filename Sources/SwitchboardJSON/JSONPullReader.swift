/// Reads one JSON document front to back in a single validating pass, handing values out as it
/// meets them — for answers a client reads whole and in volume (a lease answer of a thousand
/// tasks), where listing an object's members first and reading them after would scan every byte
/// twice and allocate a member list per object.
///
/// The caller walks the document:
/// ```swift
/// var reader = JSONPullReader(bytes)
/// try reader.beginObject()
/// while let key = try reader.nextKey() {
///     if reader.key(key, is: "id") { id = try reader.string() } else { try reader.skipValue() }
/// }
/// try reader.end()
/// ```
/// A syntax error is a `syntax` `JSONError`; a value of the wrong kind a `shape` one.
public struct JSONPullReader {
    @usableFromInline var scanner: JSONScanner
    /// Containers open around the position: bounds nesting like the scanner's `maxDepth`.
    @usableFromInline var depth = 0
    /// Just inside a container, before its first member or element.
    @usableFromInline var atFirst = false
    /// The last 24-byte time read and its value: a lease answer's times repeat from task to task.
    @usableFromInline var lastTimeText: (UInt64, UInt64, UInt64) = (0, 0, 0)
    @usableFromInline var lastTime: Int64?

    @inlinable public init(_ bytes: [UInt8]) {
        self.init(bytes, range: bytes.indices)
    }

    /// Reads the one value that lies in `range` of `bytes`.
    @inlinable public init(_ bytes: [UInt8], range: Range<Int>) {
        scanner = JSONScanner(bytes, range: range, maxDepth: JSONScanner.defaultMaxDepth, trusted: false)
    }

    /// A key's place in the document; compare it with `key(_:is:)`.
    public struct Key {
        @inlinable init(range: Range<Int>, unescaped: String?) {
            self.range = range
            self.unescaped = unescaped
        }

        @usableFromInline let range: Range<Int>
        /// The decoded text of a key written with escapes (rare: then bytes cannot be compared).
        @usableFromInline let unescaped: String?
    }

    // MARK: Containers

    @inlinable public mutating func beginObject() throws(JSONError) {
        try open(UInt8(ascii: "{"), "an object")
    }

    /// The next member's key, with the reader on its value (which must then be read or
    /// skipped); nil once the object has ended.
    @inlinable public mutating func nextKey() throws(JSONError) -> Key? {
        guard try another(closing: UInt8(ascii: "}")) else { return nil }
        guard scanner.peek == UInt8(ascii: "\"") else { throw malformed("expected a string key") }
        let start = scanner.index + 1
        let key: Key
        if let close = plainStringEnd(from: start) {
            // Printable ASCII without escapes (every key our server writes): nothing to decode.
            scanner.index = close + 1
            key = Key(range: start..<close, unescaped: nil)
        } else {
            _ = try Self.syntax { () throws(JSONError) in try scanner.scanString(decoding: false) }
            key = Key(range: start..<(scanner.index - 1), unescaped: JSONScanner.string(in: scanner.bytes, range: (start - 1)..<scanner.index))
        }
        scanner.skipWhitespace()
        guard scanner.peek == UInt8(ascii: ":") else { throw malformed("expected ':'") }
        scanner.index += 1
        scanner.skipWhitespace()
        return key
    }

    /// Where the string starting at `start` closes, when it is printable ASCII without escapes;
    /// nil for anything that needs the scanner's full check.
    @inlinable func plainStringEnd(from start: Int) -> Int? {
        scanner.bytes.withUnsafeBufferPointer { bytes in
            let stop = ASCIIWord.plainRunEnd(in: bytes, from: start, to: scanner.end)
            return stop < scanner.end && bytes[stop] == UInt8(ascii: "\"") ? stop : nil
        }
    }

    /// The key as text (for a message naming it).
    @inlinable public func text(of key: Key) -> String {
        key.unescaped ?? String(decoding: scanner.bytes[key.range], as: UTF8.self)
    }

    @inlinable public func key(_ key: Key, is name: StaticString) -> Bool {
        name.withUTF8Buffer { expected in
            if let unescaped = key.unescaped { return unescaped.utf8.elementsEqual(expected) }
            guard key.range.count == expected.count else { return false }
            return scanner.bytes.withUnsafeBufferPointer { bytes in
                var offset = 0
                while offset < expected.count {
                    guard bytes[key.range.lowerBound + offset] == expected[offset] else { return false }
                    offset += 1
                }
                return true
            }
        }
    }

    /// Where `key` is in `names`, trying `hint` first: a writer that always writes the same
    /// fields in the same order is read with one comparison per key.
    @inlinable public func index(of key: Key, in names: [StaticString], hint: Int) -> Int? {
        if hint < names.count, self.key(key, is: names[hint]) { return hint }
        return names.indices.first { self.key(key, is: names[$0]) }
    }

    @inlinable public mutating func beginArray() throws(JSONError) {
        try open(UInt8(ascii: "["), "an array")
    }

    /// Whether another element follows (the reader then stands on it); false once the array
    /// has ended.
    @inlinable public mutating func nextElement() throws(JSONError) -> Bool {
        try another(closing: UInt8(ascii: "]"))
    }

    /// Checks that nothing but white space follows the document.
    @inlinable public mutating func end() throws(JSONError) {
        scanner.skipWhitespace()
        guard scanner.index == scanner.end else { throw malformed("unexpected data after the value") }
    }

    // MARK: Values

    /// Whether the value here is `null` (not consumed).
    @inlinable public var isNull: Bool { scanner.peek == UInt8(ascii: "n") }

    /// What the value here is, by its first byte (not consumed, not yet checked); nil at the end.
    @inlinable public var kind: JSONKind? {
        switch scanner.peek {
        case nil: nil
        case UInt8(ascii: "{"): .object
        case UInt8(ascii: "["): .array
        case UInt8(ascii: "\""): .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): .bool
        case UInt8(ascii: "n"): .null
        default: .number
        }
    }

    /// A string, or nil for `null`.
    @inlinable public mutating func string() throws(JSONError) -> String? {
        if try skipNull() { return nil }
        guard scanner.peek == UInt8(ascii: "\"") else { throw wrongKind("expected a string") }
        return try Self.syntax { () throws(JSONError) in try scanner.scanString(decoding: true) }
    }

    /// A whole number, or nil for `null`.
    @inlinable public mutating func integer() throws(JSONError) -> Int64? {
        if try skipNull() { return nil }
        let start = scanner.index
        guard try scan() == .number else { throw wrongKind("expected a number", at: start) }
        var value: Int64 = 0
        var digits = scanner.bytes[start..<scanner.index]
        let negative = digits.first == UInt8(ascii: "-")
        if negative { digits = digits.dropFirst() }
        guard digits.count <= 18, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            guard let whole = RawJSON(unchecked: Array(scanner.bytes[start..<scanner.index])).integerValue else {
                throw wrongKind("expected a whole number", at: start)
            }
            return whole
        }
        for c in digits { value = value * 10 + Int64(c - 48) }
        return negative ? -value : value
    }

    @inlinable public mutating func bool() throws(JSONError) -> Bool? {
        if try skipNull() { return nil }
        let first = scanner.peek
        guard try scan() == .bool else { throw wrongKind("expected true or false") }
        return first == UInt8(ascii: "t")
    }

    /// An RFC 3339 time as milliseconds since the epoch, or nil for `null`.
    @inlinable public mutating func time() throws(JSONError) -> Int64? {
        if try skipNull() { return nil }
        let start = scanner.index
        guard scanner.peek == UInt8(ascii: "\"") else { throw wrongKind("expected a time") }
        _ = try Self.syntax { () throws(JSONError) in try scanner.scanString(decoding: false) }
        // Times never need escapes; one that has them is no RFC 3339 time either.
        let text = (start + 1)..<(scanner.index - 1)
        var words: (UInt64, UInt64, UInt64) = (0, 0, 0)
        if text.count == 24 {
            scanner.bytes.withUnsafeBytes { bytes in
                withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[text])) }
            }
            if let lastTime, words == lastTimeText { return lastTime }
        }
        guard let time = RFC3339.milliseconds(scanner.bytes[text]) else {
            throw wrongKind("expected an RFC 3339 time", at: start)
        }
        if text.count == 24 {
            lastTimeText = words
            lastTime = time
        }
        return time
    }

    /// The value as the bytes it came as (validated).
    @inlinable public mutating func raw() throws(JSONError) -> RawJSON {
        let start = scanner.index
        _ = try scan()
        return RawJSON(unchecked: Array(scanner.bytes[start..<scanner.index]))
    }

    /// An object of strings, or nil for `null`.
    @inlinable public mutating func stringMap() throws(JSONError) -> [String: String]? {
        if try skipNull() { return nil }
        var map: [String: String] = [:]
        try beginObject()
        while let key = try nextKey() {
            let name = key.unescaped ?? String(decoding: scanner.bytes[key.range], as: UTF8.self)
            guard let value = try string() else { throw wrongKind("expected a string") }
            map[name] = value
        }
        return map
    }

    @inlinable public mutating func skipValue() throws(JSONError) {
        _ = try scan()
    }

    // MARK: Steps

    @inlinable mutating func open(_ bracket: UInt8, _ what: String) throws(JSONError) {
        scanner.skipWhitespace()
        guard scanner.peek == bracket else { throw wrongKind("expected \(what)") }
        guard depth < JSONScanner.defaultMaxDepth else { throw malformed("nesting deeper than \(JSONScanner.defaultMaxDepth)") }
        scanner.index += 1
        depth += 1
        atFirst = true
        scanner.skipWhitespace()
    }

    /// Steps over the separator after a member or element: true when another follows, false
    /// (past the closing bracket) when the container ends.
    @inlinable mutating func another(closing: UInt8) throws(JSONError) -> Bool {
        scanner.skipWhitespace()
        if scanner.peek == closing {
            scanner.index += 1
            depth -= 1
            atFirst = false
            return false
        }
        if !atFirst {
            guard scanner.peek == UInt8(ascii: ",") else { throw malformed("expected ',' or '\(Character(Unicode.Scalar(closing)))'") }
            scanner.index += 1
            scanner.skipWhitespace()
        }
        atFirst = false
        return true
    }

    @inlinable mutating func skipNull() throws(JSONError) -> Bool {
        guard isNull else { return false }
        _ = try scan()
        return true
    }

    @inlinable mutating func scan() throws(JSONError) -> JSONKind {
        try Self.syntax { () throws(JSONError) in try scanner.scanValue(depth: depth) }
    }

    @inlinable static func syntax<T>(_ body: () throws(JSONError) -> T) throws(JSONError) -> T {
        try body()
    }

    /// A value of another kind than the one asked for, where it starts.
    @inlinable func wrongKind(_ reason: String, at offset: Int? = nil) -> JSONError {
        .shape("at byte \(offset ?? scanner.index): \(reason)")
    }

    @inlinable func malformed(_ reason: String, at offset: Int? = nil) -> JSONError {
        JSONError(offset: offset ?? scanner.index, reason: reason)
    }
}
