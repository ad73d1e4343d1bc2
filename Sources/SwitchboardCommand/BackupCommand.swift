import ArgumentParser
import SwitchboardSQLite

/// Where the sqlite backend keeps its file, for `serve` and `backup` alike.
enum StorageOptions {
    static let defaultDataDirectory = "./switchboard-data"
    static let databaseFileName = "switchboard.sqlite"

    static func databasePath(dataDirectory: String) -> String {
        (dataDirectory.hasSuffix("/") ? dataDirectory : dataDirectory + "/") + databaseFileName
    }
}

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the sqlite backend's database to a new file, consistently, while the server keeps running.",
        discussion: """
            Uses SQLite's online backup API: the copy is one consistent snapshot of everything committed \
            when it was taken, and the server goes on serving meanwhile. Restore by stopping the server \
            and putting the copy in place of the database file (or by starting with --backend sqlite:COPY).
            """)

    @Argument(help: "The file to write (must not exist).") var destination: String
    @Option(help: "The data directory of the server (its switchboard.sqlite is copied).")
    var dataDir = Environment.string("DATA_DIR") ?? StorageOptions.defaultDataDirectory
    @Option(help: "The database file to copy, instead of the one under --data-dir.") var database: String?

    func run() throws {
        let source = database ?? StorageOptions.databasePath(dataDirectory: dataDir)
        do {
            try SQLiteBackup.copy(databaseAt: source, to: destination)
        } catch {
            printError("switchboard: \(error)")
            throw ExitCode(74)
        }
        print("backed up \(source) to \(destination)")
    }
}
