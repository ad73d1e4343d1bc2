import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SwitchboardAPI
import SwitchboardAuth
import SwitchboardCore
import SwitchboardJSON

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
            if error.kind == .overloaded { headers[.retryAfter] = "1" }
        case let error as JSONError:
            self.init(SwitchboardError(error))
        case let error as AuthError:
            self.init(auth: error)
        case let error as HTTPError:
            self.init(error.status, error.body ?? Self.defaultDetail(for: error.status))
        case let error as any HTTPResponseError:
            self.init(error.status, Self.defaultDetail(for: error.status))
        default:
            self.init(.internalServerError, "the server failed to handle the request")
        }
    }

    /// 401 with RFC 6750's challenge, 403 naming the scopes that would do, 429 with `Retry-After`.
    private init(auth error: AuthError) {
        switch error.kind {
        case .unauthenticated:
            self.init(.unauthorized, error.detail)
            headers[.wwwAuthenticate] =
                error.credentialsMissing
                ? #"Bearer realm="switchboard""#
                : #"Bearer realm="switchboard", error="invalid_token", error_description=""# + Self.quotable(error.detail) + #"""#
        case .forbidden:
            self.init(.forbidden, error.detail)
            var challenge = #"Bearer realm="switchboard", error="insufficient_scope""#
            if !error.requiredScopes.isEmpty { challenge += #", scope=""# + error.requiredScopes.spelled + #"""# }
            headers[.wwwAuthenticate] = challenge
        case .rateLimited(let wait):
            self.init(.tooManyRequests, error.detail)
            let (seconds, attoseconds) = wait.components
            headers[.retryAfter] = String(max(1, seconds + (attoseconds > 0 ? 1 : 0)))
        case .configuration:
            self.init(.internalServerError, "the server's auth configuration failed")
        }
    }

    /// RFC 6750 attribute values may not hold `"` or `\\` (nor anything outside printable ASCII).
    private static func quotable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.filter { (0x20...0x7E).contains($0.value) && $0 != "\"" && $0 != "\\" }))
    }

    static func status(of kind: SwitchboardError.Kind) -> HTTPResponse.Status {
        HTTPResponse.Status(code: WireStatus.code(of: kind), reasonPhrase: WireStatus.reason(of: kind))
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
        let body = ProblemDocument(title: status.reasonPhrase, status: status.code, detail: detail).jsonBytes()
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// The outer edge of every request, in one middleware (each layer costs an async frame on the
/// hot path): applies the browser policy (421, 403, 415, CORS), turns every error below it into
/// a problem+json response — so no input can produce a bare 500 or an HTML page —, answers 405
/// with `Allow` for a known path with another method, and counts and times what it answers.
struct EdgeMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable
    let browser: BrowserPolicy
    let metrics: HTTPMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        var corsOrigin: String?
        do {
            switch try browser.check(request) {
            case .preflight(let answer):
                response = answer
            case .proceed(let origin):
                corsOrigin = origin
                response = try await next(request, context)
            }
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
        if let corsOrigin { BrowserPolicy.decorate(&response, origin: corsOrigin) }
        metrics.record(
            route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code, since: start)
        return response
    }
}
