import NIOCore

/// A message as the server delivers it (`MSG`, or `HMSG` with a header block).
public struct NATSMessage: Sendable, Hashable {
    public var subject: String
    public var subscriptionID: String
    public var replyTo: String?
    /// Nil for a plain `MSG`.
    public var headers: NATSHeaders?
    public var payload: ByteBuffer

    public init(subject: String, subscriptionID: String, replyTo: String? = nil, headers: NATSHeaders? = nil, payload: ByteBuffer) {
        self.subject = subject
        self.subscriptionID = subscriptionID
        self.replyTo = replyTo
        self.headers = headers
        self.payload = payload
    }

    /// The status of a status message (`NATS/1.0 503`: no responders; JetStream's 404, 408, 409,
    /// 100 for pull requests and heartbeats), nil for an ordinary message.
    public var status: Int? { headers?.status }
}

/// A header block: `NATS/1.0[ status[ description]]` and `Name: value` lines, in order. Names
/// keep their case; lookups ignore it (as HTTP's do), and a name may repeat.
public struct NATSHeaders: Sendable, Hashable {
    public var status: Int?
    public var statusDescription: String?
    public private(set) var fields: [(name: String, value: String)] = []

    public init(status: Int? = nil, statusDescription: String? = nil) {
        self.status = status
        self.statusDescription = statusDescription
    }

    public init(_ fields: [(String, String)]) {
        for (name, value) in fields { append(name, value) }
    }

    public mutating func append(_ name: String, _ value: String) {
        fields.append((name, value))
    }

    public subscript(_ name: String) -> String? {
        let lowered = name.lowercased()
        return fields.first { $0.name.lowercased() == lowered }?.value
    }

    public static func == (lhs: NATSHeaders, rhs: NATSHeaders) -> Bool {
        lhs.status == rhs.status && lhs.statusDescription == rhs.statusDescription
            && lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(status)
        for field in fields {
            hasher.combine(field.name)
            hasher.combine(field.value)
        }
    }
}

/// What the server sends.
public enum NATSServerOperation: Sendable, Hashable {
    /// `INFO {json}`: the raw JSON (read with `NATSServerInfo`).
    case info(ByteBuffer)
    case message(NATSMessage)
    case ping
    case pong
    case ok
    /// `-ERR 'text'`, the text without its quotes.
    case error(String)
}
