import FuzzDriver
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

runFuzzer(fuzzTaskJSON)
