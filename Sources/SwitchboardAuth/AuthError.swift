/// Why a caller was refused, or why an auth configuration was: the server's edge turns each kind
/// into its status (401, 403, 429), and the details name the rule, never a secret.
public struct AuthError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// No credentials, or credentials that do not check out: 401.
        case unauthenticated
        /// Known, but not allowed this route or queue: 403.
        case forbidden
        /// Over its request rate: 429, try again after the duration.
        case rateLimited(retryAfter: Duration)
        /// A token file, key or rule that cannot be used (at start or on reload).
        case configuration
    }

    public var kind: Kind
    public var detail: String
    /// For a 403 on scope: the scopes that would have done (RFC 6750's `scope` attribute).
    public var requiredScopes: Set<Scope> = []
    /// A 401 for no credentials at all, rather than for ones that failed (RFC 6750 then names
    /// no error in its challenge).
    public var credentialsMissing = false

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { detail }

    public static func unauthenticated(_ detail: String) -> AuthError { .init(.unauthenticated, detail) }
    public static func configuration(_ detail: String) -> AuthError { .init(.configuration, detail) }

    public static var credentialsMissing: AuthError {
        var error = AuthError(.unauthenticated, "this route needs credentials: a bearer token (Authorization: Bearer …) or a client certificate the server maps to scopes")
        error.credentialsMissing = true
        return error
    }

    static func unknownScope(_ word: String) -> AuthError {
        .configuration("unknown scope \"\(word)\": use \(Scope.allCases.map(\.rawValue).joined(separator: ", "))")
    }

    public static func missingScope(_ required: Set<Scope>, principal: String) -> AuthError {
        var error = AuthError(.forbidden, "\(principal) may not do this: it needs one of the scopes \(required.union([.admin]).spelled)")
        error.requiredScopes = required
        return error
    }

    public static func queueNotAllowed(queue: String, principal: String, allowed: Set<String>) -> AuthError {
        AuthError(.forbidden, "\(principal) is limited to the queues \(allowed.sorted().joined(separator: ", ")), not \(queue)")
    }
}
