import HTTPTypes
import Hummingbird
import Synchronization

/// The routes the server registered, by pattern and method, so that a request for a known path
/// with another method gets 405 and an `Allow` header instead of 404.
final class RouteTable: Sendable {
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

/// Answers 405 with `Allow` when no route matched the method but one matched the path.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let table: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // The router matched no route for this method; if the path has routes, say which methods it takes.
            var allowed = table.methods(forPath: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else { throw error }
            if allowed.contains(.get) { allowed.append(.head) }
            var problem = Problem(.methodNotAllowed, "\(request.uri.path) takes \(allowed.map(\.rawValue).joined(separator: ", "))")
            problem.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
            throw problem
        }
    }
}
