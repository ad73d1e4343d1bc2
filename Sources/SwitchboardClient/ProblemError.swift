import SwitchboardAPI
import SwitchboardCore

/// An error answer of the server: its RFC 9457 problem, as sent.
public struct ProblemError: Error, Sendable, Hashable, CustomStringConvertible {
    public var status: Int
    public var type: String
    public var title: String
    public var detail: String

    public init(status: Int, type: String = "about:blank", title: String, detail: String) {
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
    }

    /// The engine's error this status stands for, when it stands for one.
    public var kind: SwitchboardError.Kind? { WireStatus.kind(of: status) }

    /// As the engine's error, so code written against the engine (the `Worker`) reads it the same.
    public var switchboardError: SwitchboardError? {
        kind.map { SwitchboardError($0, detail) }
    }

    public var description: String { "\(status) \(title): \(detail)" }
}
