import Crypto
import Foundation

/// A NATS NKey: an Ed25519 key pair written as base32 text with a type prefix and a CRC-16
/// (`SU…` a user's seed, `U…` its public key). The client signs the server's nonce with it.
public struct NKey: Sendable {
    private let privateKey: Curve25519.Signing.PrivateKey
    private let type: UInt8

    /// A seed as `nsc`/`nk` write it (`SU…`, `SA…`, …).
    public init(seed: String) throws(NKeyError) {
        guard let bytes = Base32.decode(seed.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 36,
            CRC16.xmodem(bytes[0..<34]) == UInt16(bytes[34]) | UInt16(bytes[35]) << 8
        else { throw NKeyError("not an NKey seed (base32 text with a valid checksum)") }
        // Two prefix bytes: the seed marker (18 << 3) and the key type, packed across them.
        guard bytes[0] & 0xF8 == NKey.seedPrefix else { throw NKeyError("not a seed (it should start with S)") }
        type = (bytes[0] & 0x07) << 5 | (bytes[1] & 0xF8) >> 3
        do {
            privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: bytes[2..<34])
        } catch {
            throw NKeyError("the seed is not an Ed25519 key")
        }
    }

    /// A new user key (tests make their own).
    public static func makeUser() -> (seed: String, key: NKey) {
        let raw = Curve25519.Signing.PrivateKey().rawRepresentation
        let type = NKey.userPrefix
        var bytes: [UInt8] = [NKey.seedPrefix | type >> 5, (type & 0x1F) << 3]
        bytes += raw
        let crc = CRC16.xmodem(bytes[...])
        bytes += [UInt8(crc & 0xFF), UInt8(crc >> 8)]
        let seed = Base32.encode(bytes)
        return (seed, try! NKey(seed: seed))
    }

    /// The public key as the server's configuration names it (`U…`).
    public var publicKey: String {
        var bytes: [UInt8] = [type]
        bytes += privateKey.publicKey.rawRepresentation
        let crc = CRC16.xmodem(bytes[...])
        bytes += [UInt8(crc & 0xFF), UInt8(crc >> 8)]
        return Base32.encode(bytes)
    }

    /// The nonce's signature, base64url without padding, as CONNECT's `sig` takes it.
    public func sign(nonce: String) throws -> String {
        let signature = try privateKey.signature(for: Data(nonce.utf8))
        return Data(signature).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static let seedPrefix: UInt8 = 18 << 3
    static let userPrefix: UInt8 = 20 << 3
}

/// A `.creds` file: the user's JWT and NKey seed between their armour lines.
public struct NATSCredentials: Sendable {
    public var jwt: String
    public var key: NKey

    public init(contents: String) throws(NKeyError) {
        func block(_ name: String) -> String? {
            let lines = contents.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            guard let start = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN") && $0.contains(name) }),
                let value = lines[(start + 1)...].first(where: { !$0.isEmpty && !$0.hasPrefix("-----") && !$0.hasPrefix("*") })
            else { return nil }
            return value
        }
        guard let jwt = block("JWT"), let seed = block("SEED") else { throw NKeyError("a creds file holds a JWT block and a NKEY SEED block") }
        self.jwt = jwt
        self.key = try NKey(seed: seed)
    }
}

public struct NKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// RFC 4648 base32 without padding, as NKeys write it.
enum Base32 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var buffer = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer = 0
        var bits = 0
        for character in text.utf8 {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            buffer = (buffer << 5 | value) & 0xFFFF
            bits += 5
            if bits >= 8 {
                out.append(UInt8((buffer >> (bits - 8)) & 0xFF))
                bits -= 8
            }
        }
        return out
    }
}

/// CRC-16/XMODEM (polynomial 0x1021, initial 0), the NKey checksum.
enum CRC16 {
    static func xmodem(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }
}
