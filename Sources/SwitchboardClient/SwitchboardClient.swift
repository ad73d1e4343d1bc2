import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchboardCore
import Tracing

/// A typed client of Switchboard's REST API (DESIGN.md §3), on AsyncHTTPClient.
///
/// Error answers are thrown as `ProblemError` (the server's problem+json); a server that cannot
/// be reached is `SwitchboardError.unavailable`. Calls that are safe to repeat — reads, deletes,
/// heartbeats, enqueues with an idempotency key — are retried on connection errors and 503s with
/// jittered exponential backoff; the others are not, since a repeat could do the work twice.
public struct SwitchboardClient: Sendable {
    public struct Configuration: Sendable {
        /// Where the server is, e.g. `http://127.0.0.1:8080`.
        public var baseURL: String
        /// Per call; a long-poll adds its own wait on top.
        public var timeout: Duration = .seconds(30)
        /// Extra tries of a repeatable call.
        public var retries = 3
        public var retryBase: Duration = .milliseconds(100)

        public init(baseURL: String) {
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        }
    }

    public let configuration: Configuration
    private let http: HTTPClient

    public init(_ configuration: Configuration, httpClient: HTTPClient = SwitchboardClient.sharedHTTPClient) {
        self.configuration = configuration
        self.http = httpClient
    }

    public init(baseURL: String, httpClient: HTTPClient = SwitchboardClient.sharedHTTPClient) {
        self.init(Configuration(baseURL: baseURL), httpClient: httpClient)
    }

    /// One client for the process, never shut down. Unlike `HTTPClient.shared`, it does not
    /// retry a refused connection until the call's deadline: a server that is down is reported
    /// at once (as `unavailable`), and the caller's own backoff decides when to try again.
    public static let sharedHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        // With no tracer bootstrapped, spans cost every call a task-local binding and an
        // attribute set for nothing (~3% of a remote worker's CPU).
        if configuration.tracing.tracer is NoOpTracer { configuration.tracing.tracer = nil }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// One call: status and body bytes of a 2xx answer; a problem otherwise.
    func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String?)] = [], body: [UInt8]? = nil,
        headers: [(String, String)] = [], repeatable: Bool = false, extraTimeout: Duration = .zero
    ) async throws -> (status: Int, body: [UInt8]) {
        var url = configuration.baseURL + path
        let pairs = query.compactMap { name, value in value.map { "\(name)=\(Self.percentEncoded($0))" } }
        if !pairs.isEmpty { url += "?" + pairs.joined(separator: "&") }
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let timeout = configuration.timeout + extraTimeout
        var attempt = 0
        while true {
            do {
                let response = try await http.execute(request, timeout: .milliseconds(timeout.milliseconds))
                let bytes = try await Self.bodyBytes(of: response, limit: 64 << 20)
                let status = Int(response.status.code)
                if (200..<300).contains(status) { return (status, bytes) }
                let problem = Self.problem(status: status, reason: response.status.reasonPhrase, body: bytes)
                guard repeatable, status == 503, attempt < configuration.retries else { throw problem }
            } catch let error as ProblemError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                guard repeatable, attempt < configuration.retries else {
                    throw SwitchboardError.unavailable("\(configuration.baseURL) cannot be reached: \(error)")
                }
            }
            attempt += 1
            try await Task.sleep(for: backoff(attempt))
        }
    }

    /// The whole body in one array, sized from its Content-Length: one copy of each part.
    /// (`collect(upTo:)` grows a buffer by doubling, and the readers want an array: a lease
    /// answer of 80 KB was copied several times over.)
    private static func bodyBytes(of response: HTTPClientResponse, limit: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        if let length = response.headers.first(name: "content-length").flatMap({ Int($0) }), (0...limit).contains(length) {
            bytes.reserveCapacity(length)
        }
        for try await part in response.body {
            guard bytes.count + part.readableBytes <= limit else {
                throw SwitchboardError.malformed("an answer of more than \(limit) bytes")
            }
            bytes.append(contentsOf: part.readableBytesView)
        }
        return bytes
    }

    /// Full jitter over `retryBase × 2^(attempt−1)`.
    private func backoff(_ attempt: Int) -> Duration {
        let ceiling = configuration.retryBase.milliseconds << min(attempt - 1, 10)
        return .milliseconds(Int64.random(in: 0...max(ceiling, 1)))
    }

    private static func problem(status: Int, reason: String, body bytes: [UInt8]) -> ProblemError {
        guard let object = try? JSONObjectReader(bytes) else {
            return ProblemError(status: status, title: reason, detail: String(decoding: bytes.prefix(500), as: UTF8.self))
        }
        return ProblemError(
            status: status, type: (try? object.string("type")) ?? "about:blank", title: (try? object.string("title")) ?? reason,
            detail: (try? object.string("detail")) ?? "")
    }

    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    // MARK: Decoding

    static let decoder = JSONDecoder()

    /// A task answer, read in one pass without a generic tree (the hot path of remote workers).
    func readTask(_ body: [UInt8]) throws -> TaskRecord {
        try TaskRecord(json: body)
    }

    /// The elements of a `{"items": [...]}` answer, each read by `read` from its first byte.
    static func items<Item>(
        of body: [UInt8], _ read: (inout JSONPullReader) throws(SwitchboardError) -> Item
    ) throws(SwitchboardError) -> [Item] {
        var reader = JSONPullReader(body)
        var items: [Item] = []
        try reader.beginObject()
        while let key = try reader.nextKey() {
            guard reader.key(key, is: "items"), !reader.isNull else {
                try reader.skipValue()
                continue
            }
            try reader.beginArray()
            while try reader.nextElement() { items.append(try read(&reader)) }
        }
        try reader.end()
        return items
    }

    func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8]) throws -> T {
        try Self.decoder.decode(T.self, from: Data(body))
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
