#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Unguessable random bytes, drawn from the kernel in blocks.
///
/// Lease ids and task ids are made on the hot path; one `getrandom` per block instead of one per
/// id keeps them cheap without giving up the kernel's randomness. Not thread-safe: each owner
/// keeps one behind its own lock.
public struct RandomBytes: Sendable {
    private var block = [UInt8](repeating: 0, count: 4096)
    private var position = 4096

    public init() {}

    public mutating func next16() -> (UInt64, UInt64) {
        if position + 16 > block.count { refill() }
        defer { position += 16 }
        return block.withUnsafeBytes { raw in
            (raw.loadUnaligned(fromByteOffset: position, as: UInt64.self),
             raw.loadUnaligned(fromByteOffset: position + 8, as: UInt64.self))
        }
    }

    /// 32 random hex digits (128 bits): the unguessable part of a lease id.
    public mutating func hex128() -> [UInt8] {
        let (a, b) = next16()
        var bytes = [UInt8]()
        bytes.reserveCapacity(64)
        Hex.append(a, digits: 16, to: &bytes)
        Hex.append(b, digits: 16, to: &bytes)
        return bytes
    }

    private mutating func refill() {
        block.withUnsafeMutableBytes { raw in
            #if canImport(Glibc)
            // /dev/urandom is the kernel's CSPRNG; one read fills a whole block.
            let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
            var filled = 0
            if fd >= 0 {
                while filled < raw.count {
                    let n = read(fd, raw.baseAddress! + filled, raw.count - filled)
                    if n <= 0 { break }
                    filled += n
                }
                close(fd)
            }
            if filled < raw.count {
                var generator = SystemRandomNumberGenerator()
                for offset in stride(from: 0, to: raw.count, by: 8) {
                    raw.storeBytes(of: generator.next() as UInt64, toByteOffset: offset, as: UInt64.self)
                }
            }
            #else
            arc4random_buf(raw.baseAddress!, raw.count)
            #endif
        }
        position = 0
    }
}

enum Hex {
    static let digits = Array("0123456789abcdef".utf8)

    static func append(_ value: UInt64, digits count: Int, to bytes: inout [UInt8]) {
        var shift = (count - 1) * 4
        while shift >= 0 {
            bytes.append(digits[Int((value >> UInt64(shift)) & 0xF)])
            shift -= 4
        }
    }
}

/// Time-ordered UUIDs (RFC 9562 version 7): 48 bits of Unix milliseconds, then random bits.
public enum UUIDv7 {
    public static func make(at time: Timestamp, random: (UInt64, UInt64)) -> String {
        let ms = UInt64(bitPattern: time.milliseconds) & 0xFFFF_FFFF_FFFF
        let randA = random.0 & 0xFFF
        let randB = random.1 & 0x3FFF_FFFF_FFFF_FFFF
        var bytes = [UInt8]()
        bytes.reserveCapacity(36)
        Hex.append(ms >> 16, digits: 8, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        Hex.append(ms & 0xFFFF, digits: 4, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        Hex.append(0x7000 | randA, digits: 4, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        Hex.append(0x8000 | (randB >> 48), digits: 4, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        Hex.append(randB & 0xFFFF_FFFF_FFFF, digits: 12, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The millisecond timestamp a v7 UUID carries, or nil when the text is not one.
    public static func timestamp(of id: String) -> Timestamp? {
        let u = Array(id.utf8)
        guard u.count == 36, u[8] == 45, u[13] == 45, u[14] == UInt8(ascii: "7"), u[18] == 45, u[23] == 45 else {
            return nil
        }
        var ms: Int64 = 0
        for c in u[0..<8] + u[9..<13] {
            guard let v = Hex.digits.firstIndex(of: c) else { return nil }
            ms = ms << 4 | Int64(v)
        }
        return Timestamp(milliseconds: ms)
    }
}
