import Foundation
import MCP
import SwitchboardCore
import SwitchboardJSON

/// One tool of a hosted MCP server, as the worker runs it: a `tool_call` task whose `tool_name`
/// is `NAME.TOOL` runs as `tools/call` with the task's `input` as arguments. The answer — MCP's
/// `CallToolResult` (`content`, and `structuredContent` when the tool gives it) — becomes the
/// task's result as MCP spells it; `isError` fails the attempt with the content's text.
struct MCPTool: SwitchboardCore.Tool {
    let host: MCPServerHost
    let tool: MCP.Tool
    let name: String

    var description: String { tool.description ?? "" }

    var lockKey: String? { host.spec.serialized.contains(tool.name) ? "mcp:\(name)" : nil }

    var inputSchema: RawJSON? {
        guard let bytes = try? JSONEncoder().encode(tool.inputSchema) else { return nil }
        return try? RawJSON(validating: Array(bytes))
    }

    func execute(input: RawJSON) async throws -> RawJSON {
        let arguments: [String: Value]
        if input == .null {
            arguments = [:]
        } else {
            guard case .object(let members)? = try? JSONDecoder().decode(Value.self, from: Data(input.bytes)) else {
                throw TaskFailure.permanent("the input of \(name) must be a JSON object (its arguments)")
            }
            arguments = members
        }
        if let problem = InputSchema.problem(.object(arguments), schema: tool.inputSchema) {
            throw TaskFailure.permanent("input does not match \(name)'s inputSchema: \(problem)")
        }
        let result = try await host.call(tool.name, arguments: arguments)
        if result.isError == true {
            let text = result.content.compactMap { content -> String? in
                if case .text(let text, _, _) = content { text } else { nil }
            }.joined(separator: "\n")
            throw TaskFailure(
                "\(name) answered with an error: \(text.isEmpty ? "(no text)" : text)", retryable: !host.spec.errorsArePermanent)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try RawJSON(validating: Array(try encoder.encode(Answer(content: result.content, structuredContent: result.structuredContent))))
    }

    private struct Answer: Encodable {
        var content: [MCP.Tool.Content]
        var structuredContent: Value?
    }
}
