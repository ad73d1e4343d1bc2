import ArgumentParser
import SwitchboardClient

/// `switchboard health`: exits 0 when the server answers `/healthz` (`--ready`: `/readyz`), 1
/// otherwise — what a container's HEALTHCHECK or a systemd watchdog runs, without curl.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health", abstract: "Exit 0 if the server is up (/healthz), or ready with --ready (/readyz); 1 if not.")

    @Option(help: "The server's base URL (default: this host's SWITCHBOARD_PORT, or 8080).")
    var server = Environment.string("SERVER") ?? "http://127.0.0.1:\(Environment.int("PORT") ?? 8080)"
    @Option(help: "Bearer token (for --ready with auth on; better: SWITCHBOARD_TOKEN).") var token: String?
    @Flag(help: "Ask /readyz (the backend is reachable) instead of /healthz.") var ready = false

    func validate() throws {
        guard server.hasPrefix("http://") || server.hasPrefix("https://") else { throw ValidationError("server must be an http(s):// URL") }
    }

    func run() async throws {
        let client = APIClient(APIClient.Configuration(baseURL: server, token: token ?? Environment.string("TOKEN")), httpClient: APIClient.sharedHTTPClient)
        let answered = ready ? await client.isReady() : await client.isHealthy()
        if !answered {
            printError("switchboard: \(server) is not \(ready ? "ready" : "answering")")
            throw ExitCode(1)
        }
    }
}
