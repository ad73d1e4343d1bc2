import Foundation
import HTTPTypes
import Hummingbird
import MCP
import NIOCore
import SwitchboardAuth
import SwitchboardMCP

/// `/mcp`: MCP's Streamable HTTP transport, handed to the gateway. Every authenticated caller may
/// open a session; each tool checks its own scopes (and queues) against the caller.
struct MCPRoutes<Context: SwitchboardContext> {
    let gateway: MCPGateway
    let maxBodyBytes: Int

    func add(to router: Router<Context>, table: RouteTable) {
        let everyone: RouteAccess = .allowing(.viewer, .producer, .operator, .worker)
        table.on(router, .post, "/mcp", everyone, use: handle)
        table.on(router, .get, "/mcp", everyone, use: handle)
        table.on(router, .delete, "/mcp", everyone, use: handle)
    }

    @Sendable func handle(_ request: Request, context: Context) async throws -> Response {
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let body: Data? = request.method == .post ? Data(try await request.bodyBytes(limit: maxBodyBytes)) : nil
        let answer = await gateway.handle(
            MCP.HTTPRequest(method: request.method.rawValue, headers: headers, body: body, path: request.uri.path), principal: context.principal)
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        let responseBody: ResponseBody
        if case .stream(let stream, _) = answer {
            let (gateway, presence) = (gateway, RequestPresence(channel: context.channel))
            responseBody = ResponseBody { writer in
                // A session's stream lasts as long as the session: on shutdown the sessions close,
                // so that an open stream does not hold up the drain of requests.
                let watch = Task {
                    await presence.left()
                    if presence.isShuttingDown { await gateway.closeAllSessions() }
                }
                defer { watch.cancel() }
                do {
                    for try await chunk in stream { try await writer.write(ByteBuffer(bytes: chunk)) }
                } catch {}  // the session ended; the stream ends with it
                try await writer.finish(nil)
            }
        } else {
            responseBody = ResponseBody(byteBuffer: ByteBuffer(bytes: answer.bodyData ?? Data()))
        }
        return Response(status: HTTPResponse.Status(code: answer.statusCode), headers: fields, body: responseBody)
    }
}
