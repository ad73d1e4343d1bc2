/// Who is calling, once a token, a JWT or a client certificate has been checked: a name for the
/// audit log and the rate limiter, the scopes it holds, and the queues it is limited to.
public struct Principal: Sendable, Hashable {
    public enum Source: String, Sendable, Hashable {
        /// A static bearer token from the token file or `SWITCHBOARD_TOKENS`.
        case token
        /// A JWT signed by a configured key.
        case jwt
        /// A verified client certificate (mTLS).
        case certificate
        /// Nobody: the server runs without auth (loopback only), and every caller may do everything.
        case anonymous
    }

    public var name: String
    public var scopes: Set<Scope>
    /// Nil: every queue.
    public var queues: Set<String>?
    /// This principal's own request rate; nil: the server's default.
    public var rateLimit: RateLimit?
    public var source: Source

    public init(name: String, scopes: Set<Scope>, queues: Set<String>? = nil, rateLimit: RateLimit? = nil, source: Source) {
        self.name = name
        self.scopes = scopes
        self.queues = queues
        self.rateLimit = rateLimit
        self.source = source
    }

    /// The caller of a server without auth.
    public static let anonymous = Principal(name: "anonymous", scopes: [.admin], source: .anonymous)

    /// Whether it holds one of `scopes` (or `admin`, which holds them all).
    public func holds(anyOf scopes: Set<Scope>) -> Bool {
        self.scopes.contains(.admin) || !self.scopes.isDisjoint(with: scopes)
    }

    public func mayUse(queue: String) -> Bool {
        queues?.contains(queue) ?? true
    }

    /// Refuses (403) a queue this principal is not limited to.
    public func authorize(queue: String) throws(AuthError) {
        guard mayUse(queue: queue) else { throw .queueNotAllowed(queue: queue, principal: name, allowed: queues ?? []) }
    }
}
