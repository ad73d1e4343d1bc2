import SwitchboardCore
import SwitchboardJSON

extension SwitchboardError {
    /// A body that could not be read, as the engine's error: not JSON (or not the expected
    /// container) is `malformed` (400); a member of the wrong kind or an unknown one `invalid` (422).
    public init(_ error: JSONError) {
        switch error.kind {
        case .syntax: self = .malformed(error.message)
        case .shape: self = .invalid(error.message)
        }
    }
}

/// Runs `body` (reads of the wire format), turning a `JSONError` into a `SwitchboardError`.
@inlinable
public func readingWire<T>(_ body: () throws(JSONError) -> T) throws(SwitchboardError) -> T {
    do {
        return try body()
    } catch {
        throw SwitchboardError(error)
    }
}
