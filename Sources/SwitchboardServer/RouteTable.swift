import HTTPTypes
import Hummingbird
import HummingbirdAuth
import Logging
import SwitchboardAuth
import Synchronization

/// The routes the server registered — pattern, method and who may call it — so that a request
/// for a known path with another method gets 405 and an `Allow` header instead of 404, and so
/// that each route's access is stated once, where it is registered (tests hold `openapi.yaml`'s
/// `security` to this table).
final class RouteTable: Sendable {
    struct Route: Sendable {
        var segments: [Substring]
        var method: HTTPRequest.Method
        var path: String
        var access: RouteAccess
    }

    /// Whether credentials are checked; without auth every caller is anonymous and may do all.
    let authEnabled: Bool
    let audit: AuditLog
    private let routes = Mutex<[Route]>([])

    init(authEnabled: Bool, audit: AuditLog) {
        self.authEnabled = authEnabled
        self.audit = audit
    }

    /// The 405 problem for a request the router did not match, when its path has routes.
    func methodNotAllowed(_ request: Request) -> Problem? {
        var allowed = methods(forPath: request.uri.path)
        guard !allowed.isEmpty, !allowed.contains(request.method) else { return nil }
        if allowed.contains(.get) { allowed.append(.head) }
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        var problem = Problem(.methodNotAllowed, "\(request.uri.path) takes \(list)")
        problem.headers[.allow] = list
        return problem
    }

    /// Registers `handler` on the router behind its access check (and its audit line), and
    /// remembers the route.
    func on<Context: SwitchboardContext>(
        _ router: Router<Context>, _ method: HTTPRequest.Method, _ path: String, _ access: RouteAccess,
        use handler: @escaping @Sendable (Request, Context) async throws -> Response
    ) {
        routes.withLock { $0.append(Route(segments: path.split(separator: "/"), method: method, path: path, access: access)) }
        guard authEnabled || access.auditAction != nil else {
            router.on(RouterPath(path), method: method, use: handler)
            return
        }
        let authEnabled = authEnabled
        let audit = audit
        router.on(RouterPath(path), method: method) { request, context in
            // Without auth there is no identity: everyone is anonymous.
            let caller = authEnabled ? context.identity : context.principal
            guard let action = access.auditAction, access.isAudited(for: caller) else {
                if authEnabled { try access.authorize(context) }
                return try await handler(request, context)
            }
            // Refusals are audited too: who tried, and why it did not happen.
            do {
                if authEnabled { try access.authorize(context) }
                let response = try await handler(request, context)
                audit.record(action, request: request, principal: caller, status: response.status)
                return response
            } catch {
                audit.record(action, request: request, principal: caller, status: Problem(error).status)
                throw error
            }
        }
    }

    /// Every registered route (for the contract's tests).
    var all: [Route] { routes.withLock { $0 } }

    /// The methods registered for a path, matching `:name` segments to anything. As in the
    /// router, a literal segment wins over a parameter: `/v1/dlq/requeue` is not `/v1/dlq/:id`.
    func methods(forPath path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/")
        let matching = routes.withLock { routes in
            routes.filter { route in
                route.segments.count == segments.count
                    && zip(route.segments, segments).allSatisfy { pattern, segment in pattern.first == ":" || pattern == segment }
            }
        }
        func parameters(_ route: Route) -> Int {
            route.segments.filter { $0.first == ":" }.count
        }
        guard let fewest = matching.map(parameters).min() else { return [] }
        return matching.filter { parameters($0) == fewest }.map(\.method)
    }
}

/// Who may call a route (DESIGN.md §6): the scopes that may (`admin` always may), or nobody in
/// particular for the open ones; and, for an administrative action, its name in the audit log.
struct RouteAccess: Sendable {
    /// Nil: open, even with auth on (`/healthz`, the contract).
    var scopes: Set<Scope>?
    var auditAction: String?
    /// Callers with one of these scopes are not audited for this action (a worker releasing its
    /// own lock is routine; an operator forcing one is not).
    var unauditedScopes: Set<Scope> = []

    static let open = RouteAccess(scopes: nil)

    static func allowing(_ scopes: Scope..., audit: String? = nil, unless unaudited: Set<Scope> = []) -> RouteAccess {
        RouteAccess(scopes: Set(scopes), auditAction: audit, unauditedScopes: unaudited)
    }

    /// 401 without a principal (naming why a presented credential failed), 403 without a scope.
    func authorize(_ context: some SwitchboardContext) throws(AuthError) {
        guard let scopes else { return }
        guard let principal = context.identity else {
            throw context.authFailure ?? .credentialsMissing
        }
        guard principal.holds(anyOf: scopes) else { throw .missingScope(scopes, principal: principal.name) }
    }

    func isAudited(for principal: Principal?) -> Bool {
        guard let principal else { return true }
        // Without auth nobody can be told apart: routine callers (workers) are assumed.
        if principal.source == .anonymous { return unauditedScopes.isEmpty }
        return principal.scopes.contains(.admin) || principal.scopes.isDisjoint(with: unauditedScopes)
    }
}

/// One structured line per administrative action: what, on what, by whom, with what outcome —
/// never a credential.
struct AuditLog: Sendable {
    let logger: Logger

    func record(_ action: String, request: Request, principal: Principal?, status: HTTPResponse.Status) {
        var metadata: Logger.Metadata = [
            "action": .string(action), "principal": .string(principal?.name ?? "unauthenticated"), "target": .string(request.uri.path),
            "status": .stringConvertible(status.code), "outcome": .string((200..<300).contains(status.code) ? "ok" : "refused"),
        ]
        if let query = request.uri.query, !query.isEmpty { metadata["filter"] = .string(query) }
        logger.notice("audit", metadata: metadata)
    }
}
