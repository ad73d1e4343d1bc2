import ArgumentParser
import NIOCore
import NIOPosix

@main
enum SwitchboardMain {
    static func main() async {
        // `switchboard worker` is an HTTP client whose built-in tools compute nothing heavy: its
        // tasks run on SwiftNIO's event loops, where its I/O happens, instead of hopping to Swift's
        // global pool and back (less CPU per task: BENCHMARKS.md). Everything else keeps the
        // global pool: the server's in-process workers spread their tasks over every core there.
        if CommandLine.arguments.dropFirst().first == WorkerCommand.configuration.commandName {
            NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        await Switchboard.main()
    }
}

struct Switchboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A task-execution control plane for AI agents.",
        discussion: "Every option can also be set with an environment variable SWITCHBOARD_<OPTION> (e.g. SWITCHBOARD_PORT=9090).",
        version: BuildInfo.description,
        subcommands: [
            Serve.self, WorkerCommand.self, TaskCommand.self, DeadLetterCommand.self, LockCommand.self, TokenCommand.self, HealthCommand.self,
            BackupCommand.self,
        ])
}
