import HTTPTypes
import Hummingbird
import Logging
import SwitchboardCore

/// An RFC 9457 problem: what every error response of the API is (`application/problem+json`).
public struct Problem: Error, Sendable {
    public var status: HTTPResponse.Status
    public var detail: String
    /// Extra response headers (e.g. `Allow` on a 405).
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ detail: String) {
        self.status = status
        self.detail = detail
    }

    /// The problem an error becomes at the edge: each `SwitchboardError` kind has its status;
    /// Hummingbird's own errors keep theirs; anything else is a 500 whose detail hides internals.
    init(_ error: any Error) {
        switch error {
        case let problem as Problem:
            self = problem
        case let error as SwitchboardError:
            self.init(Self.status(of: error.kind), error.detail)
        case let error as HTTPError:
            self.init(error.status, error.body ?? Self.defaultDetail(for: error.status))
        case let error as any HTTPResponseError:
            self.init(error.status, Self.defaultDetail(for: error.status))
        default:
            self.init(.internalServerError, "the server failed to handle the request")
        }
    }

    static func status(of kind: SwitchboardError.Kind) -> HTTPResponse.Status {
        switch kind {
        case .malformed: .badRequest
        case .invalid: .unprocessableContent
        case .notFound: .notFound
        case .conflict: .conflict
        case .tooLarge: .contentTooLarge
        case .unavailable: .serviceUnavailable
        }
    }

    static func defaultDetail(for status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "no such resource or route"
        case .contentTooLarge: "the request body is larger than the server accepts"
        case .methodNotAllowed: "this route does not take that method"
        default: status.reasonPhrase
        }
    }

    var response: Response {
        var w = JSONWriter(capacity: 128 + detail.utf8.count)
        w.beginObject()
        w.key("type"); w.string("about:blank")
        w.key("title"); w.string(status.reasonPhrase)
        w.key("status"); w.int(status.code)
        w.key("detail"); w.string(detail)
        w.endObject()
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(
            status: status,
            headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }
}

/// The outer edge of every request, in one middleware (each layer costs an async frame on the
/// hot path): turns every error below it into a problem+json response — so no input can produce
/// a bare 500 or an HTML page —, answers 405 with `Allow` for a known path with another method,
/// and counts and times what it answers.
struct EdgeMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable
    let metrics: HTTPMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            var problem = Problem(error)
            if let error = error as? HTTPError, error.status == .notFound, let notAllowed = routes.methodNotAllowed(request) {
                problem = notAllowed
            }
            if problem.status == .internalServerError {
                context.logger.error("unhandled error", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            }
            response = problem.response
        }
        metrics.record(
            route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code, since: start)
        return response
    }
}
