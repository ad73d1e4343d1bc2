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

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

var arguments = CommandLine.argc
var argumentValues = CommandLine.unsafeArgv
_ = runFuzzerDriver(&arguments, &argumentValues) { data, count in
    fuzzRESP(data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
    return 0
}
