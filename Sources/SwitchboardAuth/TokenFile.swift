import SwitchboardCore
import Yams

/// One credential of the token file (`--auth-file`) or of `SWITCHBOARD_TOKENS`: a static bearer
/// token, known by its SHA-256 only, or a rule for client certificates (mTLS) whose subject
/// alternative names (or common name) match a pattern.
public struct TokenEntry: Sendable, Hashable {
    public enum Credential: Sendable, Hashable {
        /// The SHA-256 of the token's UTF-8 bytes.
        case tokenHash([UInt8])
        /// A name pattern (`*` matches any run of characters) for a verified client certificate.
        case clientCertificate(String)
    }

    public var name: String
    public var credential: Credential
    public var scopes: Set<Scope>
    public var queues: Set<String>?
    public var expires: Timestamp?
    public var rateLimit: RateLimit?

    public init(
        name: String, credential: Credential, scopes: Set<Scope>, queues: Set<String>? = nil, expires: Timestamp? = nil,
        rateLimit: RateLimit? = nil
    ) {
        self.name = name
        self.credential = credential
        self.scopes = scopes
        self.queues = queues
        self.expires = expires
        self.rateLimit = rateLimit
    }

    public var principal: Principal {
        let source: Principal.Source = if case .clientCertificate = credential { .certificate } else { .token }
        return Principal(name: name, scopes: scopes, queues: queues, rateLimit: rateLimit, source: source)
    }
}

/// Reads token files: YAML or JSON (YAML's flow style is JSON), either a list of entries or an
/// object with a `tokens` list:
///
/// ```yaml
/// tokens:
///   - name: ci-worker
///     sha256: 3b5d…          # of the token; `switchboard token create` prints the line
///     scopes: [worker]
///     queues: [billing]      # optional: only these queues
///     expires: 2027-01-01T00:00:00Z   # optional
///     rate_limit: 50         # optional: requests per second (burst defaults to the same)
///     burst: 100             # optional
///   - name: build-hosts
///     client_certificate: "*.workers.example.com"   # a verified client certificate's name
///     scopes: [worker]
/// ```
public enum TokenFile {
    private struct Document: Decodable {
        var tokens: [Entry]

        init(from decoder: any Decoder) throws {
            if let list = try? decoder.singleValueContainer().decode([Entry].self) {
                tokens = list
                return
            }
            let object = try decoder.container(keyedBy: CodingKeys.self)
            tokens = try object.decodeIfPresent([Entry].self, forKey: .tokens) ?? []
        }

        enum CodingKeys: String, CodingKey { case tokens }
    }

    private struct Entry: Decodable {
        var name: String?
        var sha256: String?
        var clientCertificate: String?
        var scopes: ScopeWords?
        var queues: [String]?
        var expires: String?
        var rateLimit: Double?
        var burst: Int?

        enum CodingKeys: String, CodingKey {
            case name, sha256, scopes, queues, expires, burst
            case clientCertificate = "client_certificate"
            case rateLimit = "rate_limit"
        }
    }

    /// The entries of a document; every rule is checked, and the first broken one is named.
    public static func parse(_ text: String, origin: String) throws(AuthError) -> [TokenEntry] {
        let document: Document
        do {
            document = try YAMLDecoder().decode(Document.self, from: text)
        } catch {
            throw .configuration("\(origin) is not a token list (YAML or JSON): \(Self.describe(error))")
        }
        var entries: [TokenEntry] = []
        var names: Set<String> = []
        for (index, raw) in document.tokens.enumerated() {
            let entry = try Self.entry(raw, where: "\(origin): token \(index + 1)")
            guard names.insert(entry.name).inserted else { throw .configuration("\(origin): the name \(entry.name) is used twice") }
            entries.append(entry)
        }
        return entries
    }

    private static func entry(_ raw: Entry, where place: String) throws(AuthError) -> TokenEntry {
        guard let name = raw.name, NamePattern.isIdentifier(name, maxLength: 128) else {
            throw .configuration("\(place): name is required, 1-128 characters of A-Z a-z 0-9 _ . : -")
        }
        let place = "\(place) (\(name))"
        let credential: TokenEntry.Credential
        switch (raw.sha256, raw.clientCertificate) {
        case (let hex?, nil):
            guard let digest = hexBytes(hex), digest.count == 32 else {
                throw .configuration("\(place): sha256 must be 64 hex digits, the SHA-256 of the token")
            }
            credential = .tokenHash(digest)
        case (nil, let pattern?):
            guard !pattern.isEmpty, NamePattern.isPrintable(pattern, maxLength: 255) else {
                throw .configuration("\(place): client_certificate must be a name pattern")
            }
            credential = .clientCertificate(pattern)
        default:
            throw .configuration("\(place): give exactly one of sha256 and client_certificate")
        }
        guard let scopeText = raw.scopes?.text else { throw .configuration("\(place): scopes is required") }
        let scopes: Set<Scope>
        do {
            scopes = try Scope.list(scopeText)
        } catch {
            throw .configuration("\(place): \(error.detail)")
        }
        guard !scopes.isEmpty else { throw .configuration("\(place): scopes must name at least one scope") }
        var queues: Set<String>?
        if let list = raw.queues {
            guard !list.isEmpty else { throw .configuration("\(place): queues, when given, must name at least one queue") }
            for queue in list where !NamePattern.isIdentifier(queue, maxLength: 64) {
                throw .configuration("\(place): \(queue) is not a queue name")
            }
            queues = Set(list)
        }
        var expires: Timestamp?
        if let text = raw.expires {
            guard let time = Timestamp(rfc3339: text) else { throw .configuration("\(place): expires must be an RFC 3339 time") }
            expires = time
        }
        var rateLimit: RateLimit?
        if let rate = raw.rateLimit {
            guard rate > 0, rate.isFinite else { throw .configuration("\(place): rate_limit must be a positive number of requests per second") }
            if let burst = raw.burst, burst < 1 { throw .configuration("\(place): burst must be at least 1") }
            rateLimit = RateLimit(perSecond: rate, burst: raw.burst)
        } else if raw.burst != nil {
            throw .configuration("\(place): burst needs rate_limit")
        }
        return TokenEntry(name: name, credential: credential, scopes: scopes, queues: queues, expires: expires, rateLimit: rateLimit)
    }

    /// A decoding error in one line, without the file's contents (which hold hashes, not tokens,
    /// but a log is no place for them either).
    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.keyNotFound(_, let context), DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "at \(path): \(context.debugDescription)"
        default:
            return String(describing: error).split(separator: "\n").first.map(String.init) ?? "unreadable"
        }
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 65...70: c - 55
        case 97...102: c - 87
        default: nil
        }
    }
}
