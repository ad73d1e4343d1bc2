/// Runs libFuzzer's driver with `check` as the input callback, then ends the process with the
/// driver's status. (SwiftPM gives an executable its own `main`, so each target calls the driver
/// rather than relying on libFuzzer's `main`.)
public func runFuzzer(_ check: @escaping ([UInt8]) -> Void) -> Never {
    checkInput = check
    var arguments = CommandLine.argc
    var argumentValues = CommandLine.unsafeArgv
    let status = runFuzzerDriver(&arguments, &argumentValues) { data, count in
        checkInput?(data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
        return 0
    }
    exit(status)
}

// The driver takes a C function, which cannot capture `check`; it calls it from one thread.
nonisolated(unsafe) private var checkInput: (([UInt8]) -> Void)?

@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_silgen_name("exit")
private func exit(_ status: CInt) -> Never
