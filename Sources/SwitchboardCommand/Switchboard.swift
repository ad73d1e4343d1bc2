import ArgumentParser

@main
struct Switchboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A task-execution control plane for AI agents.",
        discussion: "Every option can also be set with an environment variable SWITCHBOARD_<OPTION> (e.g. SWITCHBOARD_PORT=9090).",
        subcommands: [Serve.self, WorkerCommand.self, TaskCommand.self, DeadLetterCommand.self, LockCommand.self, Bench.self, BaselineEcho.self])
}
