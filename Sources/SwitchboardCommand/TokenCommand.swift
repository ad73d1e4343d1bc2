import ArgumentParser
import SwitchboardAuth
import SwitchboardCore

/// `switchboard token`: make credentials for the token file.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Make bearer tokens for the token file (--auth-file).",
        subcommands: [Create.self, Hash.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new random token (256 bits, sbt_…) on the first line and its token-file entry on the second.",
            discussion: "Only the entry (the token's SHA-256) goes into the file; keep the token itself in a secret store.")

        @Option(help: "The token's name (in audit lines and rate limits).") var name: String
        @Option(help: "A scope: viewer, producer, worker, operator or admin (repeatable, or a comma list).") var scope: [String]
        @Option(help: "Limit it to these queues (comma list).") var queues: String?
        @Option(help: "When it stops working (RFC 3339, e.g. 2027-01-01T00:00:00Z).") var expires: String?

        func validate() throws {
            guard NamePattern.isIdentifier(name, maxLength: 128) else { throw ValidationError("name must be 1-128 characters of A-Z a-z 0-9 _ . : -") }
            _ = try scopes()
            if let expires, Timestamp(rfc3339: expires) == nil { throw ValidationError("expires must be an RFC 3339 time") }
            for queue in queueList where !NamePattern.isIdentifier(queue, maxLength: 64) { throw ValidationError("\(queue) is not a queue name") }
        }

        private func scopes() throws -> Set<Scope> {
            do {
                let scopes = try Scope.list(scope.joined(separator: ","))
                guard !scopes.isEmpty else { throw ValidationError("give at least one --scope") }
                return scopes
            } catch let error as AuthError {
                throw ValidationError(error.detail)
            }
        }

        private var queueList: [String] { queues.map(Environment.list) ?? [] }

        func run() throws {
            let token = TokenGenerator.make()
            print(token)
            print(TokenGenerator.fileEntry(name: name, scopes: try scopes(), queues: queueList, expires: expires, token: token))
        }
    }

    struct Hash: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the SHA-256 (hex) of a token read from standard input, for a token you made yourself.")

        func run() throws {
            guard let line = readLine(strippingNewline: true), !line.isEmpty else { throw ValidationError("no token on standard input") }
            print(TokenGenerator.sha256Hex(of: line))
        }
    }
}
