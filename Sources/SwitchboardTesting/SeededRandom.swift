#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Randomness a failing test can be replayed with (SplitMix64): the seed comes from
/// `SWITCHBOARD_TEST_SEED` when set, else at random, and tests put it in their failure messages
/// (and, where a failure could be a crash, say it before they start).
public struct SeededRandom: RandomNumberGenerator, CustomStringConvertible {
    public let seed: UInt64
    private var state: UInt64

    public init(seed: UInt64? = nil) {
        let fromEnvironment = getenv("SWITCHBOARD_TEST_SEED").flatMap { UInt64(String(cString: $0)) }
        self.seed = seed ?? fromEnvironment ?? UInt64.random(in: 0...UInt64.max)
        state = self.seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public var description: String { "seed \(seed) (replay with SWITCHBOARD_TEST_SEED=\(seed))" }
}
