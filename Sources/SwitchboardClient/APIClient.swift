import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import SwitchboardAPI
import SwitchboardCore
import SwitchboardJSON
import Synchronization
import Tracing

/// A typed client of Switchboard's REST API (DESIGN.md §3), on AsyncHTTPClient.
///
/// Error answers are thrown as `ProblemError` (the server's problem+json); a server that cannot
/// be reached is `SwitchboardError.unavailable`. Calls that are safe to repeat — reads, deletes,
/// heartbeats, enqueues with an idempotency key — are retried on connection errors and 503s with
/// jittered exponential backoff; the others are not, since a repeat could do the work twice.
public struct APIClient: Sendable {
    public struct Configuration: Sendable {
        /// Where the server is, e.g. `http://127.0.0.1:8080`.
        public var baseURL: String
        /// Per call; a long-poll adds its own wait on top.
        public var timeout: Duration = .seconds(30)
        /// Extra tries of a repeatable call.
        public var retries = 3
        public var retryBase: Duration = .milliseconds(100)
        /// Sent with every call as `Authorization: Bearer …`; never logged or printed.
        public var token: String?
        /// For `https://` servers: a CA to trust and a client certificate (mTLS); nil: the
        /// system's roots and no client certificate.
        public var tls: TLSFiles?

        public init(baseURL: String, token: String? = nil, tls: TLSFiles? = nil) {
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            self.token = token
            self.tls = tls
        }
    }

    /// PEM files for HTTPS: the CA that signed the server's certificate (else the system's
    /// roots), and the client's own certificate and key when the server asks for one (mTLS).
    public struct TLSFiles: Sendable, Hashable {
        public var caFile: String?
        public var certificateFile: String?
        public var keyFile: String?

        public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }

        /// TLS 1.2 or later; the server's name (or IP entry) is always verified.
        public func configuration() throws -> TLSConfiguration {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv12
            if let caFile { tls.trustRoots = .file(caFile) }
            switch (certificateFile, keyFile) {
            case (let certificate?, let key?):
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            case (nil, nil):
                break
            default:
                throw SwitchboardError.invalid("a client certificate needs both its certificate and its key file")
            }
            return tls
        }
    }

    public let configuration: Configuration
    private let http: HTTPClient

    /// With `tls` set and no client given, calls go through a client made for those files (one
    /// per set of files, for the process's life).
    public init(_ configuration: Configuration, httpClient: HTTPClient? = nil) throws {
        self.configuration = configuration
        if let httpClient {
            http = httpClient
        } else if let tls = configuration.tls {
            http = try Self.httpClient(for: tls)
        } else {
            http = Self.sharedHTTPClient
        }
    }

    public init(_ configuration: Configuration, httpClient: HTTPClient) {
        self.configuration = configuration
        self.http = httpClient
    }

    public init(baseURL: String, httpClient: HTTPClient = APIClient.sharedHTTPClient) {
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
        // attribute set for nothing (a measurable share of a remote worker's CPU, BENCHMARKS.md).
        if configuration.tracing.tracer is NoOpTracer { configuration.tracing.tracer = nil }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    private static let tlsClients = Mutex<[TLSFiles: HTTPClient]>([:])

    /// The process's client for these TLS files, made on first use and never shut down (as the
    /// shared one).
    static func httpClient(for files: TLSFiles) throws -> HTTPClient {
        try tlsClients.withLock { clients in
            if let client = clients[files] { return client }
            var configuration = HTTPClient.Configuration()
            configuration.connectionPool.retryConnectionEstablishment = false
            configuration.timeout.connect = .seconds(5)
            configuration.tlsConfiguration = try files.configuration()
            if configuration.tracing.tracer is NoOpTracer { configuration.tracing.tracer = nil }
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[files] = client
            return client
        }
    }

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
        if let token = configuration.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let timeout = configuration.timeout + extraTimeout
        var attempt = 0
        while true {
            do {
                let response = try await http.execute(request, timeout: .milliseconds(timeout.wholeMilliseconds))
                let bytes = try await Self.bodyBytes(of: response, limit: 64 << 20)
                let status = Int(response.status.code)
                if (200..<300).contains(status) { return (status, bytes) }
                let problem = Self.problem(status: status, reason: response.status.reasonPhrase, body: bytes)
                guard repeatable, status == 503 || status == 429, attempt < configuration.retries else { throw problem }
                // A server that says when to come back (429) is taken at its word, up to 10 s.
                if status == 429, let after = response.headers.first(name: "retry-after").flatMap({ Int64($0) }) {
                    attempt += 1
                    try await Task.sleep(for: .seconds(min(max(after, 0), 10)))
                    continue
                }
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
    /// answer was copied several times over.)
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

    /// Full jitter over `retryBase × 2^(attempt−1)`, at most 1,024 × `retryBase`.
    private func backoff(_ attempt: Int) -> Duration {
        Backoff(base: configuration.retryBase, cap: configuration.retryBase * 1024).delay(afterAttempt: attempt)
    }

    private static func problem(status: Int, reason: String, body bytes: [UInt8]) -> ProblemError {
        guard let problem = ProblemDocument(json: bytes, status: status, reason: reason) else {
            return ProblemError(status: status, title: reason, detail: String(decoding: bytes.prefix(500), as: UTF8.self))
        }
        return ProblemError(status: status, type: problem.type, title: problem.title, detail: problem.detail)
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

    /// Small operator answers (queues, workers, counts) go through Foundation's decoder; tasks,
    /// leases and locks through the API module's readers (one decoder per answer).
    static let decoder = JSONDecoder()

    /// A task answer.
    func readTask(_ body: [UInt8]) throws -> TaskRecord {
        try readingWire { () throws(JSONError) in try TaskRecord(json: body) }
    }

    /// A list of tasks, with its next cursor.
    func readTasks(_ body: [UInt8]) throws -> Page<TaskRecord> {
        try readingWire { () throws(JSONError) in try ItemsPage.read(body) { reader throws(JSONError) in try TaskRecord(reading: &reader) } }
    }

    func readLock(_ body: [UInt8]) throws -> LockLease {
        try readingWire { () throws(JSONError) in try LockLease(json: body) }
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

