import Foundation
import JWTKit
import SwitchboardCore

/// Bearer JWTs from an identity provider (vapor/jwt-kit): signed by a configured key, with the
/// scopes in the `scope` claim (space-separated words, or a list) and, optionally, the queues in
/// `switchboard_queues`. The subject (`sub`) names the caller in logs and rate limits.
public struct JWTVerifier: Sendable {
    public struct Settings: Sendable {
        /// A file holding a JWKS (JSON) or one PEM public key (Ed25519, P-256, P-384 or RSA).
        public var keyFile: String?
        /// A file holding an HMAC secret (HS256); at least 32 bytes.
        public var secretFile: String?
        /// When set, the `iss` claim must be this.
        public var issuer: String?
        /// When set, the `aud` claim must include this.
        public var audience: String?

        public init(keyFile: String? = nil, secretFile: String? = nil, issuer: String? = nil, audience: String? = nil) {
            self.keyFile = keyFile
            self.secretFile = secretFile
            self.issuer = issuer
            self.audience = audience
        }

        public var isEmpty: Bool { (keyFile ?? "").isEmpty && (secretFile ?? "").isEmpty }
    }

    /// The claims Switchboard reads; others are ignored.
    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        var nbf: NotBeforeClaim?
        var iss: IssuerClaim?
        var aud: AudienceClaim?
        var scope: ScopeWords
        var queues: [String]?

        enum CodingKeys: String, CodingKey {
            case sub, exp, nbf, iss, aud, scope
            case queues = "switchboard_queues"
        }

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
            try nbf?.verifyNotBefore()
        }
    }

    let keys: JWTKeyCollection
    let settings: Settings

    /// Loads the key; an unreadable or unusable key refuses to start.
    public init(_ settings: Settings) async throws(AuthError) {
        self.settings = settings
        keys = JWTKeyCollection()
        if let path = settings.secretFile, !path.isEmpty {
            let secret = try Self.read(path).trimmingCharacters(in: .whitespacesAndNewlines)
            guard secret.utf8.count >= 32 else { throw .configuration("the JWT secret in \(path) must be at least 32 bytes") }
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        }
        if let path = settings.keyFile, !path.isEmpty {
            try await Self.addKey(from: try Self.read(path), path: path, to: keys)
        }
    }

    private static func read(_ path: String) throws(AuthError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .configuration("the JWT key file \(path) cannot be read: \(error.localizedDescription)")
        }
    }

    private static func addKey(from text: String, path: String, to keys: JWTKeyCollection) async throws(AuthError) {
        if text.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("{") {
            do {
                try await keys.add(jwksJSON: text)
                return
            } catch {
                throw .configuration("\(path) is not a usable JWKS: \(error)")
            }
        }
        if let key = try? EdDSA.PublicKey(pem: text) {
            await keys.add(eddsa: key)
        } else if let key = try? ES256PublicKey(pem: text) {
            await keys.add(ecdsa: key)
        } else if let key = try? ES384PublicKey(pem: text) {
            await keys.add(ecdsa: key)
        } else if let key = try? Insecure.RSA.PublicKey(pem: text) {
            await keys.add(rsa: key, digestAlgorithm: .sha256)
        } else {
            throw .configuration("\(path) holds no PEM public key of Ed25519, P-256, P-384 or RSA, nor a JWKS")
        }
    }

    /// The principal of a valid token: signature, expiry, not-before, issuer and audience checked.
    public func principal(forToken token: String) async throws(AuthError) -> Principal {
        let claims: Claims
        do {
            claims = try await keys.verify(token, as: Claims.self)
        } catch {
            throw .unauthenticated("the JWT is not valid: \(Self.reason(error))")
        }
        if let issuer = settings.issuer, claims.iss?.value != issuer {
            throw .unauthenticated("the JWT is not valid: its issuer is not \(issuer)")
        }
        if let audience = settings.audience, !(claims.aud?.value.contains(audience) ?? false) {
            throw .unauthenticated("the JWT is not valid: its audience does not include \(audience)")
        }
        let scopes: Set<Scope>
        do {
            scopes = try Scope.list(claims.scope.text)
        } catch {
            throw .unauthenticated("the JWT's scope claim names an \(error.detail)")
        }
        var queues: Set<String>?
        if let list = claims.queues {
            guard list.allSatisfy({ NamePattern.isIdentifier($0, maxLength: 64) }) else {
                throw .unauthenticated("the JWT's switchboard_queues claim holds a name that is not a queue name")
            }
            queues = Set(list)
        }
        guard NamePattern.isPrintable(claims.sub.value, maxLength: 255) else {
            throw .unauthenticated("the JWT's subject must be 1-255 printable characters")
        }
        return Principal(name: "jwt:\(claims.sub.value)", scopes: scopes, queues: queues, source: .jwt)
    }

    /// jwt-kit's reason, in one line and without the token.
    private static func reason(_ error: any Error) -> String {
        if let error = error as? JWTError {
            switch error.errorType {
            case .claimVerificationFailure: return "a claim does not hold (\(error.reason ?? "expired or not yet valid"))"
            case .signatureVerificationFailed: return "the signature does not verify"
            case .malformedToken: return "it is malformed, or a required claim (sub, exp, scope) is missing or of the wrong type"
            case .missingKIDHeader, .unknownKID: return "no configured key signed it"
            default: return error.reason ?? "\(error.errorType)"
            }
        }
        if error is DecodingError { return "a required claim (sub, exp, scope) is missing or of the wrong type" }
        return "it cannot be read"
    }
}
