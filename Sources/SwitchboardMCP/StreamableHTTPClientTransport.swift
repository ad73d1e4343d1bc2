import AsyncHTTPClient
import Foundation
import Logging
import MCP
import NIOCore
import NIOHTTP1

/// MCP's Streamable HTTP transport, client side, on AsyncHTTPClient: each message a POST, each
/// answer JSON or a server-sent-events stream read as it arrives, the session id carried.
///
/// The SDK's `HTTPClientTransport` reads no server-sent events on Linux (URLSession there cannot
/// stream), so it cannot take a tool's answer from a Streamable HTTP server, ours or another.
public actor StreamableHTTPClientTransport: Transport {
    public nonisolated let logger: Logger
    private let url: String
    private let headers: [String: String]
    private let client: HTTPClient
    private var sessionID: String?
    private var protocolVersion: String?
    private var readers: [Task<Void, Never>] = []
    private let messages: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation
    private let onFailure: @Sendable (String) -> Void

    /// `headers` go with every request (an `Authorization` bearer token); `onFailure` learns
    /// when the server can no longer be reached or forgot the session.
    public init(
        url: String, headers: [String: String] = [:], client: HTTPClient = .shared, logger: Logger,
        onFailure: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.url = url
        self.headers = headers
        self.client = client
        self.logger = logger
        self.onFailure = onFailure
        (messages, continuation) = AsyncThrowingStream.makeStream(of: Data.self)
    }

    public func connect() async throws {}

    public func disconnect() async {
        for reader in readers { reader.cancel() }
        readers = []
        if let sessionID {
            var request = HTTPClientRequest(url: url)
            request.method = .DELETE
            request.headers.add(name: "Mcp-Session-Id", value: sessionID)
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            _ = try? await client.execute(request, timeout: .seconds(5))
        }
        sessionID = nil
        continuation.finish()
    }

    public func receive() -> AsyncThrowingStream<Data, any Error> { messages }

    public func send(_ data: Data) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json, text/event-stream")
        if let sessionID { request.headers.add(name: "Mcp-Session-Id", value: sessionID) }
        if let protocolVersion { request.headers.add(name: "MCP-Protocol-Version", value: protocolVersion) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: data))
        let response: HTTPClientResponse
        do {
            // A tool call's answer may take as long as the tool: the stream has no deadline of its own.
            response = try await client.execute(request, timeout: .hours(24))
        } catch {
            onFailure("\(error)")
            throw MCPError.transportError(error)
        }
        if let id = response.headers.first(name: "Mcp-Session-Id") { sessionID = id }
        switch response.status.code {
        case 202:
            return
        case 200:
            let contentType = response.headers.first(name: "Content-Type") ?? ""
            if contentType.hasPrefix("text/event-stream") {
                let logger = logger
                readers.append(Task {
                    do {
                        try await Self.readEvents(response.body) { message in await self.deliver(message) }
                    } catch {
                        logger.debug("an MCP event stream ended", metadata: ["error": "\(error)"])
                    }
                })
            } else {
                let body = try await response.body.collect(upTo: 64 << 20)
                deliver(Data(body.readableBytesView))
            }
        default:
            let body = (try? await response.body.collect(upTo: 1 << 16)).map { String(buffer: $0) } ?? ""
            if response.status == .notFound, sessionID != nil { onFailure("the MCP server forgot the session") }
            throw MCPError.internalError("the MCP server answered \(response.status.code): \(body)")
        }
    }

    /// Hands a message to the client; the answer to `initialize` also names the protocol
    /// version every later request must carry.
    private func deliver(_ message: Data) {
        if protocolVersion == nil, let object = try? JSONSerialization.jsonObject(with: message) as? [String: Any],
            let result = object["result"] as? [String: Any], let version = result["protocolVersion"] as? String
        {
            protocolVersion = version
        }
        continuation.yield(message)
    }

    /// Server-sent events → the `data` of each (lines joined), as the specification frames them.
    static func readEvents(_ body: HTTPClientResponse.Body, _ yield: @Sendable (Data) async -> Void) async throws {
        var pending: [UInt8] = []
        var data: [UInt8] = []
        var hasData = false
        for try await chunk in body {
            pending.append(contentsOf: chunk.readableBytesView)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(pending[..<newline])
                pending.removeFirst(newline + 1)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                if line.isEmpty {
                    // A priming event (an id, empty data) only marks where to resume.
                    if hasData, !data.isEmpty { await yield(Data(data)) }
                    data = []
                    hasData = false
                } else if line.starts(with: Array("data:".utf8)) {
                    var value = line.dropFirst(5)
                    if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
                    if hasData { data.append(UInt8(ascii: "\n")) }
                    data.append(contentsOf: value)
                    hasData = true
                }
            }
        }
    }
}
