import SwitchboardJSON

/// Returns its input unchanged.
public struct EchoTool: Tool {
    public let name = "echo"
    public let description = "Returns its input unchanged."

    public init() {}

    public func execute(input: RawJSON) async throws -> RawJSON { input }
}

/// Sleeps `{"ms": N}` milliseconds (at most an hour), then returns `{"slept_ms": N}`.
/// Cancellable, so it is the tool of choice for testing timeouts, cancels and drains.
public struct SleepTool: Tool {
    public let name = "sleep"
    public let description = "Sleeps for input.ms milliseconds; cancellable."
    let clock: any SwitchboardClock

    public init(clock: any SwitchboardClock = SystemClock()) {
        self.clock = clock
    }

    public func execute(input: RawJSON) async throws -> RawJSON {
        guard let ms = input.objectMembers()?["ms"]?.integerValue, (0...3_600_000).contains(ms) else {
            throw TaskFailure.permanent("sleep needs input {\"ms\": N} with 0 <= N <= 3600000")
        }
        try await clock.sleep(for: .milliseconds(ms))
        return RawJSON(unchecked: Array("{\"slept_ms\":\(ms)}".utf8))
    }
}

/// Fails with `input.message`; retryable unless `input.retryable` is false.
public struct FailTool: Tool {
    public let name = "fail"
    public let description = "Fails with input.message (retryable unless input.retryable is false)."

    public init() {}

    public func execute(input: RawJSON) async throws -> RawJSON {
        let members = input.objectMembers() ?? [:]
        let message = members["message"]?.stringValue ?? "the fail tool failed, as asked"
        throw TaskFailure(message, retryable: members["retryable"]?.boolValue ?? true)
    }
}
