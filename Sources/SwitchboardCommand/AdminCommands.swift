import ArgumentParser
import Foundation
import SwitchboardAPI
import SwitchboardClient
import SwitchboardCore
import SwitchboardJSON

#if canImport(Glibc)
import Glibc
#endif

/// What every command that calls a server needs: where it is, and how to prove who we are.
struct ServerOption: ParsableArguments {
    @Option(help: "The server's base URL.") var server = Environment.string("SERVER") ?? "http://127.0.0.1:8080"
    @Option(help: "Bearer token for the server (better: SWITCHBOARD_TOKEN, which other users cannot see in ps).")
    var token: String?
    @Option(help: "A file holding the bearer token (a container's or systemd's secret); used when no token is given otherwise.")
    var tokenFile = Environment.string("TOKEN_FILE") ?? ""
    @Option(help: "For https://: a PEM file of the CA that signed the server's certificate (else the system's roots).")
    var caFile = Environment.string("CA_FILE") ?? ""
    @Option(help: "For mTLS: this client's certificate (PEM).") var clientCert = Environment.string("CLIENT_CERT") ?? ""
    @Option(help: "For mTLS: this client's private key (PEM).") var clientKey = Environment.string("CLIENT_KEY") ?? ""

    func validate() throws {
        guard server.hasPrefix("http://") || server.hasPrefix("https://") else { throw ValidationError("server must be an http(s):// URL") }
        guard clientCert.isEmpty == clientKey.isEmpty else { throw ValidationError("--client-cert and --client-key go together") }
        if !tokenFile.isEmpty, (try? readTokenFile()) == nil { throw ValidationError("token-file \(tokenFile) cannot be read") }
    }

    /// The token in `tokenFile`, without the line end an editor leaves.
    private func readTokenFile() throws -> String {
        try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    var configuration: APIClient.Configuration {
        func path(_ text: String) -> String? { text.isEmpty ? nil : text }
        let tls = APIClient.TLSFiles(caFile: path(caFile), certificateFile: path(clientCert), keyFile: path(clientKey))
        return APIClient.Configuration(
            baseURL: server, token: token ?? Environment.string("TOKEN") ?? (tokenFile.isEmpty ? nil : try? readTokenFile()),
            tls: tls == APIClient.TLSFiles() ? nil : tls)
    }

    var client: APIClient {
        get throws {
            do {
                return try APIClient(configuration)
            } catch {
                throw ValidationError("the TLS files cannot be used: \(error)")
            }
        }
    }
}

/// Prints one JSON document per line, as the API answers it.
enum Output {
    static func line(_ bytes: [UInt8]) {
        print(String(decoding: bytes, as: UTF8.self))
    }

    static func task(_ task: TaskRecord) { line(task.jsonBytes()) }

    static func tasks(_ page: Page<TaskRecord>) {
        var w = JSONWriter()
        w.beginObject()
        w.key("items")
        w.beginArray()
        for task in page.items { task.write(to: &w) }
        w.endArray()
        w.key("next_cursor"); w.string(page.nextCursor)
        w.endObject()
        line(w.bytes)
    }

    static func count(_ name: StaticString, _ n: Int) {
        var w = JSONWriter()
        w.beginObject()
        w.key(name); w.int(n)
        w.endObject()
        line(w.bytes)
    }

    static func lock(_ lease: LockLease) {
        var w = JSONWriter()
        lease.write(to: &w)
        line(w.bytes)
    }
}

/// Runs an admin call; a problem from the server becomes a message and exit status 1.
func admin(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let problem as ProblemError {
        printError("switchboard: \(problem)")
        throw ExitCode.failure
    } catch let error as SwitchboardError {
        printError("switchboard: \(error)")
        throw ExitCode.failure
    }
}

func printError(_ message: String) {
    let bytes = Array((message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

// MARK: task

struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task", abstract: "Enqueue, inspect, list and cancel tasks.",
        subcommands: [Enqueue.self, Get.self, List.self, Cancel.self])

    struct Enqueue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enqueue a tool call (or a task of another type).")
        @OptionGroup var options: ServerOption
        @Argument(help: "The tool to call.") var tool: String
        @Option(help: "The tool's input, as JSON.") var input = "{}"
        @Option var queue: String?
        @Option(help: "Task type (default tool_call; other types take --payload).") var type: String?
        @Option(help: "The whole payload as JSON, for types other than tool_call.") var payload: String?
        @Option var runId: String?
        @Option var priority: Int?
        @Option var lockKey: String?
        @Option var delayMs: Int64?
        @Option var idempotencyKey: String?

        func run() async throws {
            try await admin {
                var submission: TaskSubmission
                if let payload {
                    submission = TaskSubmission(type: type, payload: try RawJSON(validating: payload))
                } else {
                    submission = TaskSubmission.toolCall(tool, input: try RawJSON(validating: input))
                    submission.type = type
                }
                submission.queue = queue
                submission.runID = runId
                submission.priority = priority
                submission.lockKey = lockKey
                submission.delayMS = delayMs
                Output.task(try await options.client.enqueue(submission, idempotencyKey: idempotencyKey).task)
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one task.")
        @OptionGroup var options: ServerOption
        @Argument var id: String

        func run() async throws {
            try await admin { Output.task(try await options.client.task(id: id)) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tasks, newest last, one page.")
        @OptionGroup var options: ServerOption
        @Option var queue: String?
        @Option var status: String?
        @Option var type: String?
        @Option var runId: String?
        @Option(help: "Tasks whose payload's tool_name is this.") var toolName: String?
        @Option(help: "KEY:VALUE a task's metadata must have (repeatable).") var metadata: [String] = []
        @Option var limit = 100
        @Option var cursor: String?

        func run() async throws {
            try await admin {
                let status = try self.status.map { name in
                    guard let status = TaskStatus(rawValue: name) else { throw ValidationError("unknown status \(name)") }
                    return status
                }
                var entries: [String: String] = [:]
                for entry in metadata {
                    guard let colon = entry.firstIndex(of: ":") else { throw ValidationError("--metadata takes KEY:VALUE, not \(entry)") }
                    entries[String(entry[..<colon])] = String(entry[entry.index(after: colon)...])
                }
                Output.tasks(
                    try await options.client.tasks(
                        TaskFilter(queue: queue, status: status, type: type, runID: runId, toolName: toolName, metadata: entries),
                        page: PageRequest(limit: limit, cursor: cursor)))
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a task (a running one is asked to stop).")
        @OptionGroup var options: ServerOption
        @Argument var id: String

        func run() async throws {
            try await admin { Output.task(try await options.client.cancel(id: id)) }
        }
    }
}

// MARK: dlq

struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Inspect, requeue and delete dead tasks.",
        subcommands: [List.self, Requeue.self, Delete.self, Purge.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead tasks in burial order, one page.")
        @OptionGroup var options: ServerOption
        @Option var queue: String?
        @Option var type: String?
        @Option var limit = 100
        @Option var cursor: String?

        func run() async throws {
            try await admin {
                Output.tasks(try await options.client.deadLetters(queue: queue, type: type, page: PageRequest(limit: limit, cursor: cursor)))
            }
        }
    }

    struct Requeue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Requeue one dead task, or every one that matches.")
        @OptionGroup var options: ServerOption
        @Argument(help: "A task id; omit it to requeue all that match the filters.") var id: String?
        @Option var queue: String?
        @Option var type: String?

        func run() async throws {
            try await admin {
                if let id {
                    Output.task(try await options.client.requeueDead(id: id))
                } else {
                    Output.count("requeued", try await options.client.requeueDead(queue: queue, type: type))
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete one dead task.")
        @OptionGroup var options: ServerOption
        @Argument var id: String

        func run() async throws {
            try await admin { try await options.client.deleteDead(id: id) }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete every dead task that matches.")
        @OptionGroup var options: ServerOption
        @Option var queue: String?
        @Option var type: String?

        func run() async throws {
            try await admin { Output.count("deleted", try await options.client.purgeDead(queue: queue, type: type)) }
        }
    }
}

// MARK: lock

struct LockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock", abstract: "Inspect and release distributed locks.", subcommands: [List.self, Get.self, Release.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every lock held.")
        @OptionGroup var options: ServerOption

        func run() async throws {
            try await admin {
                let leases = try await options.client.locks()
                var w = JSONWriter()
                w.beginObject()
                w.key("items")
                w.beginArray()
                for lease in leases { lease.write(to: &w) }
                w.endArray()
                w.endObject()
                Output.line(w.bytes)
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Who holds a lock.")
        @OptionGroup var options: ServerOption
        @Argument var key: String

        func run() async throws {
            try await admin {
                guard let lease = try await options.client.lock(key: key) else {
                    printError("switchboard: lock \(key) is not held")
                    throw ExitCode.failure
                }
                Output.lock(lease)
            }
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Release a lock held by HOLDER, granted with FENCING_TOKEN.")
        @OptionGroup var options: ServerOption
        @Argument var key: String
        @Option var holder: String
        @Option(help: "The fencing token the lock was granted with.") var fencingToken: UInt64

        func run() async throws {
            try await admin { try await options.client.releaseLock(key: key, holder: holder, token: fencingToken) }
        }
    }
}
