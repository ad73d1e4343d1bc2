// Fuzzing support: documents a byte or three away from a valid one.

/// `bytes` with one to three bytes replaced, removed or inserted from `alphabet` (never empty).
public func mutated(_ bytes: [UInt8], from alphabet: [UInt8], using rng: inout some RandomNumberGenerator) -> [UInt8] {
    var bytes = bytes
    for _ in 0..<Int.random(in: 1...3, using: &rng) {
        let at = Int.random(in: 0..<bytes.count, using: &rng)
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: bytes[at] = alphabet.randomElement(using: &rng)!
        case 1: bytes.remove(at: at)
        default: bytes.insert(alphabet.randomElement(using: &rng)!, at: at)
        }
        if bytes.isEmpty { bytes = [0x30] }
    }
    return bytes
}
