import SwitchboardAPI
import SwitchboardCore
import SwitchboardJSON

/// One input: no reader may crash; what the task reader accepts, the validating scanner accepts
/// too; a task read back from its own JSON is the same task.
func fuzzTaskJSON(_ bytes: [UInt8]) {
    if let task = try? TaskRecord(json: bytes) {
        precondition((try? JSONScanner.validate(bytes)) != nil, "the task reader accepted what the scanner refuses")
        precondition((try? TaskRecord(json: task.jsonBytes())) == task, "a task did not read back as itself")
    }
    _ = try? TaskSubmission(json: bytes)
    _ = try? LeaseAnswer(json: bytes)
    _ = try? JSONObjectReader(bytes)
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

var arguments = CommandLine.argc
var argumentValues = CommandLine.unsafeArgv
_ = runFuzzerDriver(&arguments, &argumentValues) { data, count in
    fuzzTaskJSON(data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
    return 0
}
