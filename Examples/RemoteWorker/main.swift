import SwitchboardJSON

// A Swift app with a tool of its own, running a remote Switchboard worker:
//   swift run remote-worker-example http://127.0.0.1:8080
// then enqueue {"payload": {"tool_name": "word_count", "input": {"text": "a b c"}}}.
import Logging
import ServiceLifecycle
import SwitchboardClient
import SwitchboardCore
import UnixSignals

struct WordCount: Tool {
    let name = "word_count"
    let description = "Counts the words of input.text."

    func execute(input: RawJSON) async throws -> RawJSON {
        let text = input.objectMembers()?["text"]?.stringValue ?? ""
        return try RawJSON(validating: "{\"words\": \(text.split(whereSeparator: \.isWhitespace).count)}")
    }
}

let client = APIClient(baseURL: CommandLine.arguments.dropFirst().first ?? "http://127.0.0.1:8080")
let worker = Worker(
    configuration: .init(id: "word-counter", queues: ["default"], concurrency: 4, pollInterval: .seconds(10)),
    source: RemoteTaskSource(client: client), locks: RemoteLockService(client: client),
    tools: ToolRegistry([WordCount()]))
let group = ServiceGroup(services: [worker], gracefulShutdownSignals: [.sigterm, .sigint], logger: Logger(label: "example"))
try await group.run()
