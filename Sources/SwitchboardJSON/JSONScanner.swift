/// Why a document could not be read: it is not well-formed JSON (`syntax`), or it is but not
/// of the shape the reader expects (`shape`: a member of the wrong kind, an unknown member).
public struct JSONError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case syntax
        case shape
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// Not well-formed at `offset`.
    public init(offset: Int, reason: String) {
        self.init(.syntax, "invalid JSON at byte \(offset): \(reason)")
    }

    public static func shape(_ message: String) -> JSONError { JSONError(.shape, message) }

    public var description: String { message }
}

/// The kind of a JSON value, known after scanning it.
public enum JSONKind: Sendable, Equatable {
    case object, array, string, number, bool, null
}

/// One member of a top-level JSON object: its (unescaped) key and where its value lies.
public struct JSONMember: Sendable {
    public var key: String
    public var kind: JSONKind
    public var range: Range<Int>
}

/// A validating, single-pass RFC 8259 scanner over UTF-8 bytes.
///
/// It validates without building a tree: request bodies are scanned once, the few fields the
/// engine needs are read from their byte ranges, and opaque values (`payload`, `result`) are
/// kept as the very bytes that came in.
public struct JSONScanner {
    public static let defaultMaxDepth = 64

    @usableFromInline let bytes: [UInt8]
    @usableFromInline var index = 0
    /// Where the scanned value ends: the whole buffer, or a nested value's range within it.
    @usableFromInline let end: Int
    @usableFromInline let maxDepth: Int
    /// The bytes were validated already (a value nested in a document scanned before): values
    /// are skipped by their delimiters instead of checked again.
    @usableFromInline let trusted: Bool

    private init(_ bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.end = bytes.count
        self.maxDepth = maxDepth
        self.trusted = false
    }

    @usableFromInline init(_ bytes: [UInt8], range: Range<Int>, maxDepth: Int, trusted: Bool) {
        self.bytes = bytes
        self.index = range.lowerBound
        self.end = range.upperBound
        self.maxDepth = maxDepth
        self.trusted = trusted
    }

    /// Checks that `bytes` hold exactly one JSON value (surrounding white space allowed).
    public static func validate(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONError) -> JSONKind {
        var scanner = JSONScanner(bytes, maxDepth: maxDepth)
        scanner.skipWhitespace()
        let kind = try scanner.scanValue(depth: 0)
        scanner.skipWhitespace()
        guard scanner.index == bytes.count else { throw scanner.error("unexpected data after the value") }
        return kind
    }

    /// Validates the whole document and lists the members of its top-level object, in order.
    public static func members(ofObject bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONError) -> [JSONMember] {
        try members(ofObjectIn: bytes, range: bytes.indices, maxDepth: maxDepth)
    }

    /// The members of the object that spans `range` of `bytes` (a nested value, read in place;
    /// member ranges are positions in `bytes`).
    /// `validated`: the range lies in a document this scanner validated already, so its values
    /// are skipped, not checked again (a lease answer's tasks are read three levels down).
    public static func members(
        ofObjectIn bytes: [UInt8], range: Range<Int>, maxDepth: Int = defaultMaxDepth, validated: Bool = false
    ) throws(JSONError) -> [JSONMember] {
        var scanner = JSONScanner(bytes, range: range, maxDepth: maxDepth, trusted: validated)
        scanner.skipWhitespace()
        guard scanner.peek == UInt8(ascii: "{") else { throw scanner.error("expected a JSON object") }
        var members: [JSONMember] = []
        try scanner.scanObject(depth: 0) { key, kind, range in
            members.append(JSONMember(key: key, kind: kind, range: range))
        }
        scanner.skipWhitespace()
        guard scanner.index == scanner.end else { throw scanner.error("unexpected data after the value") }
        return members
    }

    /// Decodes the JSON string whose quotes span `range` (already validated).
    public static func string(in bytes: [UInt8], range: Range<Int>) -> String {
        var scanner = JSONScanner(bytes, maxDepth: 1)
        scanner.index = range.lowerBound
        return (try? scanner.scanString(decoding: true)) ?? ""
    }

    // MARK: Scanning

    @inlinable var peek: UInt8? { index < end ? bytes[index] : nil }

    @usableFromInline func error(_ reason: String) -> JSONError {
        JSONError(offset: index, reason: reason)
    }

    @inlinable @inline(__always)
    mutating func skipWhitespace() {
        // Compact JSON (all our own) has none: one comparison and out.
        guard index < end, bytes[index] <= 0x20 else { return }
        skipWhitespaceRun()
    }

    @usableFromInline mutating func skipWhitespaceRun() {
        while index < end {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    @usableFromInline mutating func scanValue(depth: Int) throws(JSONError) -> JSONKind {
        guard let c = peek else { throw error("unexpected end of input") }
        if trusted, depth > 0 { return skipValidated(c) }
        switch c {
        case UInt8(ascii: "{"):
            try scanObject(depth: depth) { _, _, _ in }
            return .object
        case UInt8(ascii: "["):
            try scanArray(depth: depth)
            return .array
        case UInt8(ascii: "\""):
            _ = try scanString(decoding: false)
            return .string
        case UInt8(ascii: "t"):
            try scanLiteral("true")
            return .bool
        case UInt8(ascii: "f"):
            try scanLiteral("false")
            return .bool
        case UInt8(ascii: "n"):
            try scanLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try scanNumber()
            return .number
        default:
            throw error("unexpected character")
        }
    }

    private mutating func scanObject(
        depth: Int,
        member: (String, JSONKind, Range<Int>) -> Void
    ) throws(JSONError) {
        guard depth < maxDepth else { throw error("nesting deeper than \(maxDepth)") }
        index += 1
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            guard peek == UInt8(ascii: "\"") else { throw error("expected a string key") }
            // Only the top level hands keys out; deeper objects are validated without decoding.
            let key = try scanString(decoding: depth == 0)
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipWhitespace()
            let start = index
            let kind = try scanValue(depth: depth + 1)
            member(key ?? "", kind, start..<index)
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","):
                index += 1
                skipWhitespace()
            case UInt8(ascii: "}"):
                index += 1
                return
            default:
                throw error("expected ',' or '}'")
            }
        }
    }

    private mutating func scanArray(depth: Int) throws(JSONError) {
        guard depth < maxDepth else { throw error("nesting deeper than \(maxDepth)") }
        index += 1
        skipWhitespace()
        if peek == UInt8(ascii: "]") {
            index += 1
            return
        }
        while true {
            _ = try scanValue(depth: depth + 1)
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","):
                index += 1
                skipWhitespace()
            case UInt8(ascii: "]"):
                index += 1
                return
            default:
                throw error("expected ',' or ']'")
            }
        }
    }

    private mutating func scanLiteral(_ literal: StaticString) throws(JSONError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= end else { throw error("unexpected end of input") }
        let matches = literal.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[index + $0] == expected[$0] }
        }
        guard matches else { throw error("invalid literal") }
        index += count
    }

    private mutating func scanNumber() throws(JSONError) {
        if peek == UInt8(ascii: "-") { index += 1 }
        guard let first = peek, first >= 48, first <= 57 else { throw error("expected a digit") }
        index += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if peek == UInt8(ascii: ".") {
            index += 1
            guard let d = peek, d >= 48, d <= 57 else { throw error("expected a digit after '.'") }
            skipDigits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard let d = peek, d >= 48, d <= 57 else { throw error("expected a digit in the exponent") }
            skipDigits()
        }
    }

    /// Steps over a value known to be valid JSON, starting at its first byte `c`: strings by
    /// their closing quote, containers by their matching bracket, scalars by their end.
    private mutating func skipValidated(_ c: UInt8) -> JSONKind {
        switch c {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            while index < end {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    skipValidatedString()
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 {
                        index += 1
                        return c == UInt8(ascii: "{") ? .object : .array
                    }
                default: break
                }
                index += 1
            }
            return c == UInt8(ascii: "{") ? .object : .array
        case UInt8(ascii: "\""):
            skipValidatedString()
            return .string
        case UInt8(ascii: "t"):
            index += 4
            return .bool
        case UInt8(ascii: "f"):
            index += 5
            return .bool
        case UInt8(ascii: "n"):
            index += 4
            return .null
        default:
            while index < end {
                switch bytes[index] {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                    UInt8(ascii: "e"), UInt8(ascii: "E"):
                    index += 1
                default:
                    return .number
                }
            }
            return .number
        }
    }

    private mutating func skipValidatedString() {
        index += 1
        while index < end {
            switch bytes[index] {
            case UInt8(ascii: "\""):
                index += 1
                return
            case UInt8(ascii: "\\"):
                index += 2
            default:
                index += 1
            }
        }
    }

    private mutating func skipDigits() {
        while let d = peek, d >= 48, d <= 57 { index += 1 }
    }

    /// Scans a string starting at its opening quote; returns its decoded text when asked to.
    /// Text without escapes is made straight from its bytes (short keys need no allocation).
    @inlinable mutating func scanString(decoding: Bool) throws(JSONError) -> String? {
        index += 1
        let start = index
        var decoded: [UInt8]?
        var runStart = index
        while true {
            index = bytes.withUnsafeBufferPointer { ASCIIWord.plainRunEnd(in: $0, from: index, to: end) }
            guard index < end else { throw error("unterminated string") }
            let c = bytes[index]
            switch c {
            case UInt8(ascii: "\""):
                defer { index += 1 }
                guard decoding else { return nil }
                guard var escaped = decoded else { return String(decoding: bytes[start..<index], as: UTF8.self) }
                escaped.append(contentsOf: bytes[runStart..<index])
                return String(decoding: escaped, as: UTF8.self)
            case UInt8(ascii: "\\"):
                var escaped = decoded ?? []
                if decoding { escaped.append(contentsOf: bytes[runStart..<index]) }
                try scanEscape(into: &escaped)
                if decoding { decoded = escaped }
                runStart = index
            case 0..<0x20:
                throw error("control character in string")
            case 0x80...:
                try scanMultibyte()
            default:
                index += 1
            }
        }
    }

    @usableFromInline mutating func scanEscape(into output: inout [UInt8]) throws(JSONError) {
        index += 1
        guard let c = peek else { throw error("unterminated escape") }
        index += 1
        let simple: UInt8?
        switch c {
        case UInt8(ascii: "\""): simple = 0x22
        case UInt8(ascii: "\\"): simple = 0x5C
        case UInt8(ascii: "/"): simple = 0x2F
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "u"): simple = nil
        default: throw error("invalid escape")
        }
        if let simple {
            output.append(simple)
            return
        }
        var scalar = try hex4()
        if (0xD800...0xDBFF).contains(scalar) {
            guard index + 1 < end, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                throw error("unpaired surrogate")
            }
            index += 2
            let low = try hex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(scalar) {
            throw error("unpaired surrogate")
        }
        if let unicode = Unicode.Scalar(scalar) {
            UTF8.encode(unicode) { output.append($0) }
        }
    }

    private mutating func hex4() throws(JSONError) -> UInt32 {
        guard index + 4 <= end else { throw error("unterminated escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let digit: UInt32
            switch c {
            case 48...57: digit = UInt32(c - 48)
            case 65...70: digit = UInt32(c - 55)
            case 97...102: digit = UInt32(c - 87)
            default: throw error("invalid hex digit in escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    /// Validates one UTF-8 sequence of two to four bytes (no overlongs, no surrogates).
    @usableFromInline mutating func scanMultibyte() throws(JSONError) {
        let lead = bytes[index]
        let count: Int
        var lowest: UInt8 = 0x80
        var highest: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: count = 1
        case 0xE0: count = 2; lowest = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: count = 2
        case 0xED: count = 2; highest = 0x9F
        case 0xF0: count = 3; lowest = 0x90
        case 0xF1...0xF3: count = 3
        case 0xF4: count = 3; highest = 0x8F
        default: throw error("invalid UTF-8")
        }
        guard index + count < end else { throw error("invalid UTF-8") }
        let second = bytes[index + 1]
        guard second >= lowest, second <= highest else { throw error("invalid UTF-8") }
        for k in stride(from: 2, through: count, by: 1) {
            guard bytes[index + k] & 0xC0 == 0x80 else { throw error("invalid UTF-8") }
        }
        index += count + 1
    }
}

// MARK: - Building a tree (the slow path, for Codable interop only)

extension JSONScanner {
    /// Parses into a `JSONValue` tree. The engine never does this on its hot path; it is for
    /// `Codable` users (clients, tests) who want structured access.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONError) -> JSONValue {
        var scanner = JSONScanner(bytes, maxDepth: maxDepth)
        scanner.skipWhitespace()
        let value = try scanner.parseValue(depth: 0)
        scanner.skipWhitespace()
        guard scanner.index == bytes.count else { throw scanner.error("unexpected data after the value") }
        return value
    }

    private mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
        skipWhitespace()
        let start = index
        switch peek {
        case UInt8(ascii: "{"):
            index += 1
            var members: [(String, JSONValue)] = []
            skipWhitespace()
            if peek == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard peek == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try scanString(decoding: true) ?? ""
                skipWhitespace()
                guard peek == UInt8(ascii: ":") else { throw error("expected ':'") }
                index += 1
                members.append((key, try parseValue(depth: depth + 1)))
                skipWhitespace()
                if peek == UInt8(ascii: ",") {
                    index += 1
                } else if peek == UInt8(ascii: "}") {
                    index += 1
                    return .object(members)
                } else {
                    throw error("expected ',' or '}'")
                }
            }
        case UInt8(ascii: "["):
            index += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if peek == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                elements.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                if peek == UInt8(ascii: ",") {
                    index += 1
                } else if peek == UInt8(ascii: "]") {
                    index += 1
                    return .array(elements)
                } else {
                    throw error("expected ',' or ']'")
                }
            }
        case UInt8(ascii: "\""):
            return .string(try scanString(decoding: true) ?? "")
        default:
            let kind = try scanValue(depth: depth)
            switch kind {
            case .bool: return .bool(bytes[start] == UInt8(ascii: "t"))
            case .null: return .null
            default:
                let text = String(decoding: bytes[start..<index], as: UTF8.self)
                if let int = Int64(text) { return .int(int) }
                return .double(Double(text) ?? 0)
            }
        }
    }
}

// MARK: - Arrays

extension JSONScanner {
    /// Validates the whole document and lists the elements of its top-level array, in order.
    public static func elements(ofArray bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONError) -> [(kind: JSONKind, range: Range<Int>)] {
        try elements(ofArrayIn: bytes, range: bytes.indices, maxDepth: maxDepth)
    }

    /// The elements of the array that spans `range` of `bytes`, read in place.
    public static func elements(
        ofArrayIn bytes: [UInt8], range: Range<Int>, maxDepth: Int = defaultMaxDepth, validated: Bool = false
    ) throws(JSONError) -> [(kind: JSONKind, range: Range<Int>)] {
        var scanner = JSONScanner(bytes, range: range, maxDepth: maxDepth, trusted: validated)
        scanner.skipWhitespace()
        guard scanner.peek == UInt8(ascii: "[") else { throw scanner.error("expected a JSON array") }
        scanner.index += 1
        var elements: [(kind: JSONKind, range: Range<Int>)] = []
        scanner.skipWhitespace()
        if scanner.peek == UInt8(ascii: "]") {
            scanner.index += 1
        } else {
            while true {
                let start = scanner.index
                let kind = try scanner.scanValue(depth: 1)
                elements.append((kind, start..<scanner.index))
                scanner.skipWhitespace()
                if scanner.peek == UInt8(ascii: ",") {
                    scanner.index += 1
                    scanner.skipWhitespace()
                } else if scanner.peek == UInt8(ascii: "]") {
                    scanner.index += 1
                    break
                } else {
                    throw scanner.error("expected ',' or ']'")
                }
            }
        }
        scanner.skipWhitespace()
        guard scanner.index == scanner.end else { throw scanner.error("unexpected data after the value") }
        return elements
    }
}
