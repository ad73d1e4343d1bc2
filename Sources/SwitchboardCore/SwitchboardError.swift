/// The errors the engine, the backends and the lock services report to their callers.
///
/// Each kind maps to one HTTP status at the server's edge; `detail` is written for the person
/// who sent the request, so it names the field and the rule it broke.
public struct SwitchboardError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// The request is not well-formed (e.g. not JSON): 400.
        case malformed
        /// Well-formed but breaks a rule (a field out of range, an unknown field): 422.
        case invalid
        /// No such task, lease, queue or lock: 404.
        case notFound
        /// The state forbids it: a stale lease, a finished task, a lock held by another: 409.
        case conflict
        /// A payload, result or body over its limit: 413.
        case tooLarge
        /// The backend cannot be reached: 503.
        case unavailable
        /// Too much at once: a queue at its depth limit, a caller over its rate: 429.
        case overloaded
        /// The backend lacks the ability the request needs (an optional role): 501.
        case unsupported
        /// The store has no room for the change (a full disk): 507. Nothing was changed, and
        /// reads go on.
        case insufficientStorage
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public static func malformed(_ detail: String) -> SwitchboardError { .init(.malformed, detail) }
    public static func invalid(_ detail: String) -> SwitchboardError { .init(.invalid, detail) }
    public static func notFound(_ detail: String) -> SwitchboardError { .init(.notFound, detail) }
    public static func conflict(_ detail: String) -> SwitchboardError { .init(.conflict, detail) }
    public static func tooLarge(_ detail: String) -> SwitchboardError { .init(.tooLarge, detail) }
    public static func unavailable(_ detail: String) -> SwitchboardError { .init(.unavailable, detail) }
    public static func overloaded(_ detail: String) -> SwitchboardError { .init(.overloaded, detail) }
    public static func unsupported(_ detail: String) -> SwitchboardError { .init(.unsupported, detail) }
    public static func insufficientStorage(_ detail: String) -> SwitchboardError { .init(.insufficientStorage, detail) }

    /// Worth trying again later, unchanged: the backend is away or the server is busy.
    public var isTransient: Bool { kind == .unavailable || kind == .overloaded || kind == .insufficientStorage }

    public var description: String { "\(kind.rawValue): \(detail)" }
}
