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

    /// The headers the policy reads, found in one pass over the fields: a lookup by name per
    /// header ran generic code for each, a measurable share of a single-task enqueue (BENCHMARKS.md).
    private struct Facts {
        var origin: String?
        var secFetchSite: String?
        var contentType: String?
        var preflightMethod = false
        var hasBody = false

        init(_ fields: HTTPFields) {
            for field in fields {
                switch field.name {
                case .contentType: contentType = field.value
                case .contentLength: hasBody = hasBody || (Int(field.value).map { $0 > 0 } ?? true)
                case .transferEncoding: hasBody = true
                case .origin: origin = field.value
                case .secFetchSite: secFetchSite = field.value
                case .accessControlRequestMethod: preflightMethod = true
                default: continue
                }
            }
        }
    }

    func check(_ request: Request) throws(Problem) -> Verdict {
        guard let authority = request.head.authority, !authority.isEmpty else {
            throw Problem(.misdirectedRequest, "the request names no host (Host header)")
        }
        // The usual hosts are recognised without spelling the host out (no allocation per request).
        if !allowsAnyHost, !Self.isPlainLoopback(authority) {
            let host = Self.host(ofAuthority: authority)
            guard Self.isLoopback(host) || allowedHosts.contains(host) else {
                throw Problem(.misdirectedRequest, "this server does not answer for the host \(host); see --allowed-hosts")
            }
        }
        let facts = Facts(request.headers)
        let method = request.method
        let changesState = method != .get && method != .head && method != .options
        var corsOrigin: String?
        if let origin = facts.origin {
            let normalized = Self.normalizedOrigin(origin)
            let own = normalized == "\(scheme)://\(authority.lowercased())"
            let allowed = allowedOrigins.contains(normalized)
            if method == .options, facts.preflightMethod {
                guard own || allowed else {
                    throw Problem(.forbidden, "cross-origin requests from \(origin) are not allowed; see --allowed-origins")
                }
                return .preflight(Self.preflightAnswer(origin: normalized))
            }
            if changesState, !own, !allowed {
                throw Problem(.forbidden, "a \(method.rawValue) from the page at \(origin) is refused: only this server's own origin and --allowed-origins may change anything")
            }
            corsOrigin = allowed && !own ? normalized : nil
        } else if changesState, facts.secFetchSite?.lowercased() == "cross-site" {
            throw Problem(.forbidden, "a cross-site \(method.rawValue) (Sec-Fetch-Site: cross-site) is refused")
        }
        // A body, or any declared type on a state-changing request, must be JSON.
        if facts.hasBody || (changesState && facts.contentType != nil) {
            guard let declared = facts.contentType, Self.isJSON(declared) else {
                throw Problem(
                    .unsupportedMediaType,
                    "request bodies must be application/json"
                        + (facts.contentType.map { " (Content-Type: \($0) was sent)" } ?? " (no Content-Type was sent)"))
            }
        }
        return .proceed(corsOrigin: corsOrigin)
    }

    static func isJSON(_ contentType: String) -> Bool {
        if contentType == "application/json" { return true }
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

    /// `localhost[:port]` or `127.0.0.1[:port]` as sent (lowercase): what nearly every request on
    /// a loopback server names, told without making a String.
    static func isPlainLoopback(_ authority: String) -> Bool {
        var utf8 = authority.utf8[...]
        if let colon = utf8.firstIndex(of: UInt8(ascii: ":")) {
            guard utf8[utf8.index(after: colon)...].allSatisfy({ (48...57).contains($0) }) else { return false }
            utf8 = utf8[..<colon]
        }
        return utf8.elementsEqual("localhost".utf8) || utf8.elementsEqual("127.0.0.1".utf8)
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
