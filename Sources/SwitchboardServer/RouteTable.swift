import HTTPTypes
import Hummingbird
import Synchronization

/// The routes the server registered, by pattern and method, so that a request for a known path
/// with another method gets 405 and an `Allow` header instead of 404.
final class RouteTable: Sendable {
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

    private let routes = Mutex<[(segments: [Substring], method: HTTPRequest.Method)]>([])

    /// Registers `handler` on the router and remembers the route.
    func on<Context: RequestContext>(
        _ router: Router<Context>, _ method: HTTPRequest.Method, _ path: String,
        use handler: @escaping @Sendable (Request, Context) async throws -> Response
    ) {
        router.on(RouterPath(path), method: method, use: handler)
        routes.withLock { $0.append((path.split(separator: "/"), method)) }
    }

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
        func parameters(_ route: (segments: [Substring], method: HTTPRequest.Method)) -> Int {
            route.segments.filter { $0.first == ":" }.count
        }
        guard let fewest = matching.map(parameters).min() else { return [] }
        return matching.filter { parameters($0) == fewest }.map(\.method)
    }
}

