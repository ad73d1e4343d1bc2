import Crypto
import Foundation

/// New static tokens: 256 random bits, base64url, behind a `sbt_` prefix that secret scanners
/// can look for.
public enum TokenGenerator {
    public static let prefix = "sbt_"

    public static func make() -> String {
        let key = SymmetricKey(size: .bits256)
        return prefix + key.withUnsafeBytes { base64URL(Array($0)) }
    }

    /// What the token file stores: the token's SHA-256 in hex.
    public static func sha256Hex(of token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 15)]], as: UTF8.self)
        }.joined()
    }

    /// The token file's entry for a new token, as one YAML flow line under `tokens:`.
    public static func fileEntry(name: String, scopes: Set<Scope>, queues: [String]?, expires: String?, token: String) -> String {
        var fields = [
            "name: \(name)", "sha256: \(sha256Hex(of: token))", "scopes: [\(scopes.sorted().map(\.rawValue).joined(separator: ", "))]",
        ]
        if let queues, !queues.isEmpty { fields.append("queues: [\(queues.joined(separator: ", "))]") }
        if let expires { fields.append("expires: \"\(expires)\"") }
        return "  - {\(fields.joined(separator: ", "))}"
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
