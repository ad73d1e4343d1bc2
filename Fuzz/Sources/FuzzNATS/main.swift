import FuzzDriver
import NIOCore
import SwitchboardNATSClient

/// One input: the decoder takes operations until it needs more bytes or refuses the input,
/// consumes something for each one, and never crashes (the payload limit lowered, so that a
/// fuzzed size cannot ask for gigabytes).
func fuzzNATS(_ bytes: [UInt8]) {
    var buffer = ByteBuffer(bytes: bytes)
    var limits = NATSLimits()
    limits.maxPayload = 1 << 20
    var decoder = NATSDecoder(limits: limits)
    var operations = 0
    while operations < 10_000 {
        let before = buffer.readerIndex
        guard case .some(.some) = try? decoder.decode(buffer: &buffer) else { break }
        precondition(buffer.readerIndex > before, "an operation decoded from no bytes")
        operations += 1
    }
}

runFuzzer(fuzzNATS)
