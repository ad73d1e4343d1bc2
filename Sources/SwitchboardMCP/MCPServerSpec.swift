import Foundation

/// One MCP server a worker hosts: `NAME=COMMAND ARGS…` as `--mcp` takes it. Its tools are
/// registered as `NAME.TOOL`.
public struct MCPServerSpec: Sendable, Hashable {
    public var name: String
    /// The program and its arguments (empty for a server reached at `url`).
    public var command: [String]
    /// A server reached over Streamable HTTP instead of started as a child process.
    public var url: String?
    /// Headers for every request to `url` (an `Authorization` token).
    public var headers: [String: String] = [:]
    /// Whether a tool error (`isError`) buries the task at once instead of being retried.
    public var errorsArePermanent: Bool
    /// Its tools (by their name on the server) whose calls run one at a time: tasks made of them
    /// by the server's MCP endpoint carry the lock key `mcp:NAME.TOOL`.
    public var serialized: Set<String> = []

    public init(name: String, command: [String], url: String? = nil, errorsArePermanent: Bool = false) {
        self.name = name
        self.command = command
        self.url = url
        self.errorsArePermanent = errorsArePermanent
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// `NAME=COMMAND ARGS…` or `NAME=https://…`; the command is split at spaces, with single or
    /// double quotes and backslashes as a shell reads them (no variables, no globs: it is not run
    /// by a shell).
    public init(parsing text: String) throws(Invalid) {
        guard let equals = text.firstIndex(of: "=") else {
            throw Invalid(description: "--mcp takes NAME=COMMAND, not \(text.debugDescription)")
        }
        let name = String(text[..<equals])
        guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
            throw Invalid(description: "an MCP server's name is 1-64 of A-Z a-z 0-9 _ -, not \(name.debugDescription)")
        }
        let rest = String(text[text.index(after: equals)...])
        if rest.hasPrefix("http://") || rest.hasPrefix("https://") {
            guard !rest.contains(" "), URL(string: rest)?.host != nil else { throw Invalid(description: "\(rest.debugDescription) is not a URL") }
            self.init(name: name, command: [], url: rest)
            return
        }
        let command = try Self.words(rest)
        guard !command.isEmpty else { throw Invalid(description: "--mcp \(name)= needs a command or a URL") }
        self.init(name: name, command: command)
    }

    static func words(_ text: String) throws(Invalid) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\", quote != "'" {
                escaped = true
                inWord = true
            } else if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                inWord = true
            } else if character == " " || character == "\t" {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        guard quote == nil, !escaped else { throw Invalid(description: "unbalanced quote or trailing backslash in \(text.debugDescription)") }
        if inWord { words.append(current) }
        return words
    }

    /// The servers of a configuration file in the form MCP clients share:
    /// `{"mcpServers": {"NAME": {"command": "…", "args": ["…"], "env": {"K": "V"}}}}`.
    public static func servers(configuration data: Data) throws(Invalid) -> [MCPServerSpec] {
        struct File: Decodable {
            struct Server: Decodable {
                var command: String?
                var args: [String]?
                var env: [String: String]?
                var url: String?
                var headers: [String: String]?
            }
            var mcpServers: [String: Server]
        }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw Invalid(description: "an MCP configuration file is {\"mcpServers\": {NAME: {\"command\", \"args\", \"env\"}}}: \(error)")
        }
        return try file.mcpServers.keys.sorted().map { name throws(Invalid) in
            let server = file.mcpServers[name]!
            if let url = server.url {
                var spec = try MCPServerSpec(parsing: "\(name)=\(url)")
                spec.headers = server.headers ?? [:]
                return spec
            }
            guard let command = server.command else { throw Invalid(description: "MCP server \(name) needs a command or a url") }
            var spec = try MCPServerSpec(parsing: "\(name)=x")
            // Environment entries go first, through env(1), as the file's servers expect them.
            let environment = (server.env ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            spec.command = (environment.isEmpty ? [] : ["/usr/bin/env"] + environment) + [command] + (server.args ?? [])
            return spec
        }
    }
}
