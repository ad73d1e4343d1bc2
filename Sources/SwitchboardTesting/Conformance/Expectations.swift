import SwitchboardCore

/// A conformance check that did not hold, with where it was stated.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public var message: String
    public var file: StaticString
    public var line: UInt

    public var description: String { "\(file):\(line): \(message)" }
}

func expect(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) throws {
    if !condition { throw ConformanceFailure(message: message(), file: file, line: line) }
}

func expectEqual<T: Equatable>(
    _ actual: T, _ expected: T, _ what: String, file: StaticString = #filePath, line: UInt = #line
) throws {
    if actual != expected {
        throw ConformanceFailure(message: "\(what): expected \(expected), got \(actual)", file: file, line: line)
    }
}

func unwrap<T>(_ value: T?, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws -> T {
    guard let value else { throw ConformanceFailure(message: "\(what): expected a value, got nil", file: file, line: line) }
    return value
}

/// Runs `body` and checks that it throws a `SwitchboardError` of `kind`.
func expectError<T>(
    _ kind: SwitchboardError.Kind, _ what: String, file: StaticString = #filePath, line: UInt = #line,
    _ body: () async throws -> T
) async throws {
    do {
        _ = try await body()
    } catch let error as SwitchboardError {
        try expectEqual(error.kind, kind, "\(what) (\(error.detail))", file: file, line: line)
        return
    }
    throw ConformanceFailure(message: "\(what): expected a \(kind) error, got success", file: file, line: line)
}
