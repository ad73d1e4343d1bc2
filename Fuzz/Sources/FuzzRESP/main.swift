import FuzzDriver
import NIOCore
import SwitchboardRESP

/// One input: the decoder takes values until it needs more bytes or refuses the input, and
/// never crashes (limits lowered, so that a fuzzed length cannot ask for gigabytes).
func fuzzRESP(_ bytes: [UInt8]) {
    var buffer = ByteBuffer(bytes: bytes)
    var limits = RESPLimits()
    limits.maxBulkLength = 1 << 20
    limits.maxElements = 1 << 16
    var decoder = RESPDecoder(limits: limits)
    var values = 0
    while values < 10_000, (try? decoder.decode(buffer: &buffer)) != nil { values += 1 }
}

runFuzzer(fuzzRESP)
