import Foundation
import HTTPTypes
import Hummingbird

/// What keeps web pages from driving the server (DESIGN.md §6), with or without auth: a page
/// can send a "simple" cross-site request (a form post, `text/plain`, no preflight) and, with
/// DNS rebinding, make its own host name resolve to the server. So:
/// - `Host` must name the server: loopback names and addresses, the address it binds (when
///   not a wildcard), or an allowed host (421 otherwise: rebinding is refused);
/// - a state-changing request from a foreign `Origin`, or marked `Sec-Fetch-Site: cross-site`,
///   is refused (403: forms and scripts of other sites cannot act);
/// - a body must be `application/json` (415: no simple request carries that type, so a page
///   needs a CORS preflight, which only allowed origins pass).
/// CORS answers only for the allowed origins; credentials are bearer tokens, never cookies.
struct BrowserPolicy: Sendable {
    /// Host names (lowercase, no port) accepted besides loopback.
    let allowedHosts: Set<String>
    /// `*` in `--allowed-hosts` (the server refuses it without auth).
    let allowsAnyHost: Bool
    /// Origins (`scheme://host[:port]`, lowercase) whose pages may call the API.
    let allowedOrigins: Set<String>
    /// `https` when the server speaks TLS: its own origin's scheme.
    let scheme: String

    init(allowedHosts: [String], allowedOrigins: [String], boundHost: String, tls: Bool) {
        var hosts = Set(allowedHosts.map { Self.normalizedHost($0) })
        allowsAnyHost = hosts.remove("*") != nil
        let bound = Self.normalizedHost(boundHost)
        if !["0.0.0.0", "::", ""].contains(bound) { hosts.insert(bound) }
        self.allowedHosts = hosts
        self.allowedOrigins = Set(allowedOrigins.map { Self.normalizedOrigin($0) })
        scheme = tls ? "https" : "http"
    }

    enum Verdict {
        /// Go on; answer with CORS headers for this origin when there is one.
        case proceed(corsOrigin: String?)
        /// A CORS preflight of an allowed origin, answered here.
        case preflight(Response)
    }

    func check(_ request: Request) throws(Problem) -> Verdict {
        guard let authority = request.head.authority, !authority.isEmpty else {
            throw Problem(.misdirectedRequest, "the request names no host (Host header)")
        }
        let host = Self.host(ofAuthority: authority)
        guard allowsAnyHost || Self.isLoopback(host) || allowedHosts.contains(host) else {
            throw Problem(.misdirectedRequest, "this server does not answer for the host \(host); see --allowed-hosts")
        }
        let origin = request.headers[.origin]
        let allowedCrossOrigin = origin.map(Self.normalizedOrigin).flatMap { allowedOrigins.contains($0) ? $0 : nil }
        let ownOrigin = origin.map { Self.normalizedOrigin($0) == "\(scheme)://\(authority.lowercased())" } ?? false
        if request.method == .options, let origin, request.headers[.accessControlRequestMethod] != nil {
            guard let allowed = allowedCrossOrigin ?? (ownOrigin ? Self.normalizedOrigin(origin) : nil) else {
                throw Problem(.forbidden, "cross-origin requests from \(origin) are not allowed; see --allowed-origins")
            }
            return .preflight(Self.preflightAnswer(origin: allowed))
        }
        if request.method != .get, request.method != .head, request.method != .options {
            if let origin, !ownOrigin, allowedCrossOrigin == nil {
                throw Problem(.forbidden, "a \(request.method.rawValue) from the page at \(origin) is refused: only this server's own origin and --allowed-origins may change anything")
            }
            if origin == nil, request.headers[.secFetchSite]?.lowercased() == "cross-site" {
                throw Problem(.forbidden, "a cross-site \(request.method.rawValue) (Sec-Fetch-Site: cross-site) is refused")
            }
        }
        try Self.checkContentType(request)
        return .proceed(corsOrigin: ownOrigin ? nil : allowedCrossOrigin)
    }

    /// A body, or any declared type on a state-changing request, must be JSON.
    private static func checkContentType(_ request: Request) throws(Problem) {
        let declared = request.headers[.contentType]
        let hasBody =
            request.headers[.transferEncoding] != nil || (request.headers[.contentLength].flatMap { Int($0) }.map { $0 > 0 } ?? false)
        let changesState = request.method != .get && request.method != .head && request.method != .options
        guard hasBody || (changesState && declared != nil) else { return }
        guard let declared, isJSON(declared) else {
            throw Problem(
                .unsupportedMediaType,
                "request bodies must be application/json" + (declared.map { " (Content-Type: \($0) was sent)" } ?? " (no Content-Type was sent)"))
        }
    }

    static func isJSON(_ contentType: String) -> Bool {
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        return mediaType == "application/json"
    }

    /// CORS headers on an allowed origin's answer: it may read the answer and these headers.
    static func decorate(_ response: inout Response, origin: String) {
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.accessControlExposeHeaders] = "Location, Retry-After, WWW-Authenticate"
        response.headers[.vary] = "Origin"
    }

    private static func preflightAnswer(origin: String) -> Response {
        var response = Response(status: .noContent)
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.accessControlAllowMethods] = "GET, POST, DELETE"
        response.headers[.accessControlAllowHeaders] = "Authorization, Content-Type, Idempotency-Key"
        response.headers[.accessControlMaxAge] = "600"
        response.headers[.vary] = "Origin"
        return response
    }

    /// The host of `host[:port]` or `[v6]:port`, lowercase, without a trailing dot.
    static func host(ofAuthority authority: String) -> String {
        var text = Substring(authority.lowercased())
        if text.first == "[" {
            text = text.dropFirst().prefix { $0 != "]" }
        } else if let colon = text.lastIndex(of: ":"), text[text.index(after: colon)...].allSatisfy(\.isNumber) {
            text = text[..<colon]
        }
        if text.last == "." { text = text.dropLast() }
        return String(text)
    }

    static func normalizedHost(_ text: String) -> String {
        text == "*" ? "*" : host(ofAuthority: text.trimmingCharacters(in: .whitespaces))
    }

    static func normalizedOrigin(_ text: String) -> String {
        var origin = text.trimmingCharacters(in: .whitespaces).lowercased()
        while origin.hasSuffix("/") { origin.removeLast() }
        return origin
    }

    /// `localhost`, 127.0.0.0/8 and `::1` (with or without IPv4 mapping).
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1" { return true }
        let v4 = host.hasPrefix("::ffff:") ? String(host.dropFirst(7)) : host
        let parts = v4.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}

extension HTTPField.Name {
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
}
