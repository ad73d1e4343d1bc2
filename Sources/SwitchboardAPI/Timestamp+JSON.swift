import SwitchboardCore
import SwitchboardJSON

extension JSONWriter {
    /// The time as RFC 3339 (`2026-11-27T10:00:00.000Z`), or null.
    @inlinable
    public mutating func timestamp(_ value: Timestamp?) {
        time(milliseconds: value?.milliseconds)
    }
}

extension JSONPullReader {
    /// An RFC 3339 time, or nil for `null`.
    @inlinable
    public mutating func timestamp() throws(JSONError) -> Timestamp? {
        try time().map(Timestamp.init(milliseconds:))
    }
}

/// As an RFC 3339 string, for the small answers clients read with `JSONDecoder`.
extension Timestamp: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = Timestamp(rfc3339: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an RFC 3339 time: \(text)"))
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rfc3339)
    }
}
