/// A JSON object (a request body, usually) scanned once, with typed reads of its members by
/// name. Every error names the field, so it can go straight back to the client.
///
/// Nested objects and arrays are read in place: they share the document's buffer, and their
/// member ranges are positions in it.
public struct JSONObjectReader: Sendable {
    public let bytes: [UInt8]
    public let members: [JSONMember]
    /// Where this object sits in the document; spelt out only for an error (a batch of a
    /// thousand items would otherwise format a thousand paths that nobody reads).
    private let place: Place

    /// Prefixed to field names in errors (e.g. `items[3].`).
    public var path: String { place.path }

    private indirect enum Place: Sendable {
        case root
        case member(of: Place, key: String)
        case element(of: Place, key: String, index: Int)

        var path: String {
            switch self {
            case .root: ""
            case .member(let parent, let key): "\(parent.path)\(key)."
            case .element(let parent, let key, let index): "\(parent.path)\(key)[\(index)]."
            }
        }
    }

    /// Scans `bytes`, which must hold one JSON object; a `syntax` error otherwise. A
    /// member of the wrong kind is a `shape` error that names it.
    public init(_ bytes: [UInt8], maxDepth: Int = JSONScanner.defaultMaxDepth) throws(JSONError) {
        members = try JSONScanner.members(ofObject: bytes, maxDepth: maxDepth)
        self.bytes = bytes
        self.place = .root
    }

    private init(bytes: [UInt8], members: [JSONMember], place: Place) {
        self.bytes = bytes
        self.members = members
        self.place = place
    }

    private func member(_ key: String) -> JSONMember? {
        members.last { $0.key == key }
    }

    /// Refuses members not in `allowed`, so that a misspelt field is an error, not a silent default.
    public func rejectUnknown(allowed: Set<String>) throws(JSONError) {
        if let unknown = members.first(where: { !allowed.contains($0.key) }) {
            throw .shape("unknown field '\(path)\(unknown.key)'")
        }
    }

    public func string(_ key: String) throws(JSONError) -> String? {
        guard let m = member(key) else { return nil }
        switch m.kind {
        case .null: return nil
        case .string: return JSONScanner.string(in: bytes, range: m.range)
        default: throw .shape("\(path)\(key) must be a string")
        }
    }

    public func integer(_ key: String) throws(JSONError) -> Int64? {
        guard let m = member(key) else { return nil }
        switch m.kind {
        case .null: return nil
        case .number:
            if let value = Self.plainInteger(bytes[m.range]) { return value }
            guard let value = RawJSON(unchecked: Array(bytes[m.range])).integerValue else {
                throw .shape("\(path)\(key) must be a whole number")
            }
            return value
        default: throw .shape("\(path)\(key) must be a number")
        }
    }

    /// Digits with an optional minus, short enough not to overflow: the common case, read
    /// without making a string (anything else, like `1e3` or `2.0`, takes the general path).
    private static func plainInteger(_ digits: ArraySlice<UInt8>) -> Int64? {
        var rest = digits[...]
        let negative = rest.first == UInt8(ascii: "-")
        if negative { rest = rest.dropFirst() }
        guard !rest.isEmpty, rest.count <= 18 else { return nil }
        var value: Int64 = 0
        for c in rest {
            guard c >= 48, c <= 57 else { return nil }
            value = value * 10 + Int64(c - 48)
        }
        return negative ? -value : value
    }

    public func bool(_ key: String) throws(JSONError) -> Bool? {
        guard let m = member(key) else { return nil }
        switch m.kind {
        case .null: return nil
        case .bool: return bytes[m.range.lowerBound] == UInt8(ascii: "t")
        default: throw .shape("\(path)\(key) must be true or false")
        }
    }

    /// The member's bytes as they came; `RawJSON.null` for an explicit null, nil when absent.
    public func raw(_ key: String) -> RawJSON? {
        member(key).map { RawJSON(unchecked: Array(bytes[$0.range])) }
    }

    public func stringMap(_ key: String) throws(JSONError) -> [String: String]? {
        guard let m = member(key) else { return nil }
        switch m.kind {
        case .null: return nil
        case .object:
            guard let members = try? JSONScanner.members(ofObjectIn: bytes, range: m.range, validated: true) else { return [:] }
            var map: [String: String] = [:]
            for member in members {
                guard member.kind == .string else { throw .shape("\(path)\(key).\(member.key) must be a string") }
                map[member.key] = JSONScanner.string(in: bytes, range: member.range)
            }
            return map
        default: throw .shape("\(path)\(key) must be an object of strings")
        }
    }

    /// A nested object; nil when absent or null.
    public func object(_ key: String) throws(JSONError) -> JSONObjectReader? {
        guard let m = member(key) else { return nil }
        switch m.kind {
        case .null: return nil
        case .object:
            let members = (try? JSONScanner.members(ofObjectIn: bytes, range: m.range, validated: true)) ?? []
            return JSONObjectReader(bytes: bytes, members: members, place: .member(of: place, key: key))
        default: throw .shape("\(path)\(key) must be an object")
        }
    }

    /// An array of strings; nil when absent.
    public func strings(_ key: String) throws(JSONError) -> [String]? {
        guard let m = member(key) else { return nil }
        switch m.kind {
        case .null: return nil
        case .array:
            let elements = (try? JSONScanner.elements(ofArrayIn: bytes, range: m.range, validated: true)) ?? []
            return try elements.map { element throws(JSONError) in
                guard element.kind == .string else { throw .shape("\(path)\(key) must be an array of strings") }
                return JSONScanner.string(in: bytes, range: element.range)
            }
        default: throw .shape("\(path)\(key) must be an array of strings")
        }
    }

    /// A pull reader over a member's value, nil when absent or null: an array of a thousand
    /// small objects is read in one pass instead of a member list (and key strings) per object.
    public func pullReader(_ key: String) -> JSONPullReader? {
        guard let m = member(key), m.kind != .null else { return nil }
        return JSONPullReader(bytes, range: m.range)
    }

    /// The objects of an array member (e.g. a batch's `items`); nil when absent or null.
    public func objects(_ key: String) throws(JSONError) -> [JSONObjectReader]? {
        guard let m = member(key), m.kind != .null else { return nil }
        guard m.kind == .array else { throw .shape("\(path)\(key) must be an array") }
        let elements = (try? JSONScanner.elements(ofArrayIn: bytes, range: m.range, validated: true)) ?? []
        var objects: [JSONObjectReader] = []
        objects.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard element.kind == .object else { throw .shape("\(path)\(key)[\(index)] must be an object") }
            let members = (try? JSONScanner.members(ofObjectIn: bytes, range: element.range, validated: true)) ?? []
            objects.append(JSONObjectReader(bytes: bytes, members: members, place: .element(of: place, key: key, index: index)))
        }
        return objects
    }
}
