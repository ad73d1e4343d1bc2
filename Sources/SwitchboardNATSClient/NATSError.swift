/// What can go wrong talking to NATS.
public enum NATSError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The connection is closed (or was never up), with why.
    case closed(String)
    /// The server refused the credentials.
    case authorization(String)
    /// `-ERR` from the server; the server closes the connection after most.
    case server(String)
    /// A request found no subscriber to answer it (status 503).
    case noResponders(subject: String)
    case timedOut(String)
    /// A message larger than the server's `max_payload`.
    case payloadTooLarge(size: Int, max: Int)
    /// The server lacks what is asked of it (headers, JetStream) or is older than required.
    case unsupported(String)

    public var description: String {
        switch self {
        case .closed(let why): "NATS connection closed: \(why)"
        case .authorization(let why): "NATS authorization failed: \(why)"
        case .server(let text): "NATS server error: \(text)"
        case .noResponders(let subject): "no responders on \(subject)"
        case .timedOut(let what): "NATS \(what) timed out"
        case .payloadTooLarge(let size, let max): "message of \(size) bytes is over the server's max_payload of \(max)"
        case .unsupported(let what): "NATS server does not support \(what)"
        }
    }

    /// Worth trying again on another connection (the operation itself was fine).
    public var isTransient: Bool {
        switch self {
        case .closed, .timedOut: true
        default: false
        }
    }
}
