import Hummingbird
import HummingbirdAuth
import NIOCore
import SwitchboardAuth

/// What the routes need of a request context: Hummingbird's, the caller's principal (set by
/// `AuthenticationMiddleware`, hummingbird-auth's protocol), why authentication failed when it
/// did, and the connection, so that a long-poll can tell when its client has gone.
public protocol SwitchboardContext: AuthRequestContext where Identity == Principal {
    var channel: (any Channel)? { get }
    /// Set when a presented credential did not check out; routes that need one answer 401 with it.
    var authFailure: AuthError? { get set }
}

extension SwitchboardContext {
    /// The caller; anonymous (everything allowed) only on a server without auth — which sets no
    /// identity at all —, since with auth every route that needs a principal refuses a request
    /// without one first.
    var principal: Principal { identity ?? .anonymous }
}

/// The request context of the server.
public struct SwitchboardRequestContext: SwitchboardContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: (any Channel)?
    public var identity: Principal?
    public var authFailure: AuthError?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

extension SwitchboardContext {
    /// Refuses (403) a queue the caller is not limited to.
    func authorize(queue: String) throws(AuthError) {
        try principal.authorize(queue: queue)
    }

    /// The queue filter of a list or bulk action for this caller: the one asked for (checked);
    /// for a caller limited to one queue, that queue when none is asked for. A caller limited
    /// to several queues must name one (403), so that nothing of the others shows or changes.
    func queueFilter(_ requested: String?) throws(AuthError) -> String? {
        guard let allowed = principal.queues else { return requested }
        if let requested {
            try principal.authorize(queue: requested)
            return requested
        }
        if allowed.count == 1 { return allowed.first }
        throw AuthError(.forbidden, "\(principal.name) is limited to the queues \(allowed.sorted().joined(separator: ", ")): name one with ?queue=")
    }

    /// Whether the caller may see every queue (then no per-task check is needed).
    var seesEveryQueue: Bool { principal.queues == nil }
}
