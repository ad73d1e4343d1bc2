import SwitchboardCore
import SwiftASN1
import X509

/// Turns what a request presents — a bearer token (static or JWT) or a verified client
/// certificate — into a principal, and meters each principal's requests. Knows no HTTP: the
/// server hands it the `Authorization` header's token and the certificate's names.
public final class Authenticator: Sendable {
    public struct Settings: Sendable {
        public var tokens = TokenStore.Sources()
        public var jwt = JWTVerifier.Settings()
        /// Scopes of any verified client certificate that no `client_certificate` rule matches
        /// (`--mtls-scope`); nil: such a certificate grants nothing by itself.
        public var certificateScopes: Set<Scope>?
        /// The rate of a principal that has none of its own (`--rate-limit`); nil: unmetered.
        public var defaultRateLimit: RateLimit?

        public init() {}

        /// Whether any credential is configured: then every route but the open ones needs one.
        public var isEnabled: Bool { !tokens.isEmpty || !jwt.isEmpty || certificateScopes != nil }
    }

    public let tokens: TokenStore?
    public let jwt: JWTVerifier?
    public let certificateScopes: Set<Scope>?
    public let defaultRateLimit: RateLimit?
    private let limiter = RateLimiter()

    public init(tokens: TokenStore?, jwt: JWTVerifier?, certificateScopes: Set<Scope>?, defaultRateLimit: RateLimit?) {
        self.tokens = tokens
        self.jwt = jwt
        self.certificateScopes = certificateScopes
        self.defaultRateLimit = defaultRateLimit
    }

    /// Reads the token sources and the JWT key; any broken one refuses to start.
    public convenience init(_ settings: Settings) async throws(AuthError) {
        self.init(
            tokens: settings.tokens.isEmpty && settings.certificateScopes == nil ? nil : try TokenStore(settings.tokens),
            jwt: settings.jwt.isEmpty ? nil : try await JWTVerifier(settings.jwt),
            certificateScopes: settings.certificateScopes, defaultRateLimit: settings.defaultRateLimit)
    }

    /// No credentials: every caller is `Principal.anonymous` (a loopback-only server).
    public static func disabled(defaultRateLimit: RateLimit? = nil) -> Authenticator {
        Authenticator(tokens: nil, jwt: nil, certificateScopes: nil, defaultRateLimit: defaultRateLimit)
    }

    public var isEnabled: Bool { tokens != nil || jwt != nil || certificateScopes != nil }

    /// The caller's principal: from the bearer token when there is one (a bad token is refused
    /// even if a certificate came too), else from the client certificate's names; nil when
    /// neither is presented. Without auth, everyone is anonymous.
    public func authenticate(bearer: String?, certificateNames: [String]?, now: Timestamp) async throws(AuthError) -> Principal? {
        guard isEnabled else { return .anonymous }
        if let bearer {
            guard !bearer.isEmpty else { throw .unauthenticated("the bearer token is empty") }
            if let jwt, Self.looksLikeJWT(bearer) { return try await jwt.principal(forToken: bearer) }
            guard let tokens else { throw .unauthenticated("the bearer token is not valid") }
            return try tokens.principal(forToken: bearer, now: now)
        }
        guard let names = certificateNames, !names.isEmpty else { return nil }
        if let rule = tokens?.principal(forCertificateNames: names, now: now) { return rule }
        if let certificateScopes { return Principal(name: "cert:\(names[0])", scopes: certificateScopes, source: .certificate) }
        return nil
    }

    /// Counts one request against the principal's rate; 429 when it is over.
    public func admit(_ principal: Principal, at now: ContinuousClock.Instant) throws(AuthError) {
        guard let limit = principal.rateLimit ?? defaultRateLimit else { return }
        if let wait = limiter.admit(principal.name, limit: limit, at: now) {
            throw AuthError(.rateLimited(retryAfter: wait), "\(principal.name) is over its rate of \(Self.spelled(limit.perSecond)) requests per second")
        }
    }

    private static func spelled(_ rate: Double) -> String {
        rate == rate.rounded() ? String(Int(rate)) : String(rate)
    }

    /// Three base64url parts separated by dots; static tokens have no dots.
    static func looksLikeJWT(_ token: String) -> Bool {
        token.utf8.lazy.filter { $0 == UInt8(ascii: ".") }.count == 2
    }
}

/// The names of a client certificate that rules match against: DNS, URI, email and IP subject
/// alternative names, then the subject's common name.
public enum CertificateNames {
    public static func of(derEncoded der: [UInt8]) -> [String] {
        guard let certificate = try? Certificate(derEncoded: der) else { return [] }
        var names: [String] = []
        if let alternatives = try? certificate.extensions.subjectAlternativeNames {
            for name in alternatives {
                switch name {
                case .dnsName(let dns): names.append(dns)
                case .uniformResourceIdentifier(let uri): names.append(uri)
                case .rfc822Name(let email): names.append(email)
                case .ipAddress(let bytes): if let ip = ipText(Array(bytes.bytes)) { names.append(ip) }
                default: break
                }
            }
        }
        for rdn in certificate.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                names.append(String(describing: attribute.value))
            }
        }
        return names
    }

    private static func ipText(_ bytes: [UInt8]) -> String? {
        switch bytes.count {
        case 4: return bytes.map(String.init).joined(separator: ".")
        case 16:
            return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
        default: return nil
        }
    }
}
