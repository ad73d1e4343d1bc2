/// Where one deployment's tasks live: stream `<prefix>_tasks`, one subject per task, idempotency
/// key, lock key and queue, each holding only its last write (`max_msgs_per_subject: 1`), so the
/// stream is the current state and a subject's last sequence is its revision for
/// compare-and-set. Names are base64url-encoded into one subject token (ids allow `.`).
struct NATSTaskSubjects: Sendable {
    let prefix: String
    let stream: String

    init(prefix: String) {
        self.prefix = prefix
        stream = "\(prefix)_tasks"
    }

    enum Kind: String, CaseIterable {
        case task = "task", idempotency = "idem", lockKey = "key", queue = "queue"
        /// Each server's clock probe (`ClockReference`): the stream stamps it with its time.
        case clock = "clock"
    }

    var patterns: [String] { Kind.allCases.map { "\(prefix).\($0.rawValue).*" } }

    func subject(_ kind: Kind, _ name: String) -> String { "\(prefix).\(kind.rawValue).\(Self.encode(name))" }

    /// The kind and name a subject of this stream stands for.
    func parse(_ subject: String) -> (kind: Kind, name: String)? {
        let parts = subject.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == prefix, let kind = Kind(rawValue: String(parts[1])), let name = Self.decode(parts[2])
        else { return nil }
        return (kind, name)
    }

    /// base64url without padding, by hand: every write and every followed message names a
    /// subject, and Foundation's encoder and string replacements cost more than the rest of
    /// naming it (BENCHMARKS.md, "NATS").
    static func encode(_ name: String) -> String {
        let bytes = Array(name.utf8)
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        if bytes.count - i == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
        } else if bytes.count - i == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ token: some StringProtocol) -> String? {
        var out = [UInt8]()
        out.reserveCapacity(token.utf8.count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in token.utf8 {
            let value = values[Int(byte)]
            guard value < 64 else { return nil }
            buffer = buffer << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        guard bits < 6, buffer & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return String(validating: out, as: UTF8.self)
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Each byte's value in the alphabet; 255 for a byte outside it.
    private static let values: [UInt8] = {
        var values = [UInt8](repeating: 255, count: 256)
        for (i, byte) in alphabet.enumerated() { values[Int(byte)] = UInt8(i) }
        return values
    }()
}
