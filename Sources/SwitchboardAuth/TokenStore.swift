import Crypto
import Foundation
import SwitchboardCore
import Synchronization

/// The static credentials: entries of the token file and of `SWITCHBOARD_TOKENS`, replaced as a
/// whole by `reload()` (SIGHUP). Tokens are known only by their SHA-256; a presented token is
/// hashed and compared with every entry in constant time.
public final class TokenStore: Sendable {
    /// Where entries come from: a file path, and/or a document held in the environment.
    public struct Sources: Sendable {
        public var file: String?
        public var environment: String?

        public init(file: String? = nil, environment: String? = nil) {
            self.file = file
            self.environment = environment
        }

        public var isEmpty: Bool { (file ?? "").isEmpty && (environment ?? "").isEmpty }
    }

    public let sources: Sources
    private let entries: Mutex<[TokenEntry]>

    /// Reads the sources once; a broken file refuses to start.
    public init(_ sources: Sources) throws(AuthError) {
        self.sources = sources
        entries = Mutex(try Self.read(sources))
    }

    /// For tests and embedders: entries given directly.
    public init(entries: [TokenEntry]) {
        sources = Sources()
        self.entries = Mutex(entries)
    }

    /// Reads the sources again and replaces every entry, or keeps the old ones and throws.
    @discardableResult
    public func reload() throws(AuthError) -> Int {
        let fresh = try Self.read(sources)
        entries.withLock { $0 = fresh }
        return fresh.count
    }

    public var count: Int { entries.withLock { $0.count } }

    private static func read(_ sources: Sources) throws(AuthError) -> [TokenEntry] {
        var all: [TokenEntry] = []
        if let path = sources.file, !path.isEmpty {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw .configuration("the token file \(path) cannot be read: \(error.localizedDescription)")
            }
            all += try TokenFile.parse(text, origin: path)
        }
        if let document = sources.environment, !document.isEmpty {
            all += try TokenFile.parse(document, origin: "SWITCHBOARD_TOKENS")
        }
        var names: Set<String> = []
        for entry in all where !names.insert(entry.name).inserted {
            throw .configuration("the name \(entry.name) is used by two tokens (file and environment)")
        }
        return all
    }

    /// The principal of a bearer token; 401 for an unknown or expired one.
    public func principal(forToken token: String, now: Timestamp) throws(AuthError) -> Principal {
        let digest = Array(SHA256.hash(data: Array(token.utf8)))
        let matched = entries.withLock { entries -> TokenEntry? in
            var found: TokenEntry?
            for entry in entries {
                guard case .tokenHash(let hash) = entry.credential else { continue }
                // Every entry is compared, all the way, whatever matched before.
                if constantTimeEqual(hash, digest) { found = entry }
            }
            return found
        }
        guard let entry = matched else { throw .unauthenticated("the bearer token is not valid") }
        if let expires = entry.expires, expires <= now {
            throw .unauthenticated("the token \(entry.name) expired at \(expires.rfc3339)")
        }
        return entry.principal
    }

    /// The first client-certificate rule that one of `names` matches, if any.
    public func principal(forCertificateNames names: [String], now: Timestamp) -> Principal? {
        entries.withLock { entries in
            for entry in entries {
                guard case .clientCertificate(let pattern) = entry.credential else { continue }
                if let expires = entry.expires, expires <= now { continue }
                if names.contains(where: { NameGlob.matches(pattern, $0) }) { return entry.principal }
            }
            return nil
        }
    }
}

/// Whether two byte strings are equal, in time that depends on their lengths only.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}

/// Name patterns of client-certificate rules: `*` matches any run of characters (none too),
/// everything else itself, ignoring ASCII case (DNS names are case-insensitive).
enum NameGlob {
    static func matches(_ pattern: String, _ name: String) -> Bool {
        matches(Array(pattern.lowercased().utf8)[...], Array(name.lowercased().utf8)[...])
    }

    private static func matches(_ pattern: ArraySlice<UInt8>, _ name: ArraySlice<UInt8>) -> Bool {
        guard let first = pattern.first else { return name.isEmpty }
        if first == UInt8(ascii: "*") {
            let rest = pattern.dropFirst()
            var tail = name
            while true {
                if matches(rest, tail) { return true }
                guard !tail.isEmpty else { return false }
                tail = tail.dropFirst()
            }
        }
        guard name.first == first else { return false }
        return matches(pattern.dropFirst(), name.dropFirst())
    }
}
