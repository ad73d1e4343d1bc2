/// A JSON value kept as the bytes it arrived as: validated once on the way in, never decoded
/// into a tree by the engine, and written back out unchanged (`payload`, `result`).
public struct RawJSON: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Validates `bytes` as one JSON value. Surrounding white space is trimmed.
    public init(validating bytes: [UInt8], maxDepth: Int = JSONScanner.defaultMaxDepth) throws(JSONError) {
        _ = try JSONScanner.validate(bytes, maxDepth: maxDepth)
        self.bytes = Self.trimmed(bytes)
    }

    public init(validating text: String) throws(JSONError) {
        try self.init(validating: Array(text.utf8))
    }

    /// For bytes already validated elsewhere (a range the scanner produced, a stored task).
    public init(unchecked bytes: [UInt8]) {
        self.bytes = bytes
    }

    public static let null = RawJSON(unchecked: Array("null".utf8))
    public static let emptyObject = RawJSON(unchecked: Array("{}".utf8))

    public var description: String { String(decoding: bytes, as: UTF8.self) }

    /// The members of this value when it is an object; nil otherwise.
    public func objectMembers() -> [String: RawJSON]? {
        guard let members = try? JSONScanner.members(ofObject: bytes) else { return nil }
        var result: [String: RawJSON] = [:]
        for member in members {
            result[member.key] = RawJSON(unchecked: Array(bytes[member.range]))
        }
        return result
    }

    /// The decoded text when this value is a JSON string.
    public var stringValue: String? {
        guard bytes.first == UInt8(ascii: "\"") else { return nil }
        return JSONScanner.string(in: bytes, range: 0..<bytes.count)
    }

    /// The value when it is a JSON number that is a whole number.
    public var integerValue: Int64? {
        if let int = Int64(description) { return int }
        if let double = Double(description), double.rounded() == double, abs(double) < 9e15 { return Int64(double) }
        return nil
    }

    /// The value when it is `true` or `false`.
    public var boolValue: Bool? {
        switch description {
        case "true": true
        case "false": false
        default: nil
        }
    }

    public var isNull: Bool { bytes == RawJSON.null.bytes }

    /// Structured access for `Codable` interop; parses the bytes into a tree.
    public func parsed() throws(JSONError) -> JSONValue {
        try JSONScanner.parse(bytes)
    }

    private static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }),
            let last = bytes.lastIndex(where: { !isSpace($0) })
        else { return bytes }
        if first == 0 && last == bytes.count - 1 { return bytes }
        return Array(bytes[first...last])
    }
}

extension RawJSON: Codable {
    public init(from decoder: any Decoder) throws {
        let value = try JSONValue(from: decoder)
        self.init(unchecked: value.jsonBytes())
    }

    public func encode(to encoder: any Encoder) throws {
        try parsed().encode(to: encoder)
    }
}
