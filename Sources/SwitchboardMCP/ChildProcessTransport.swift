import Foundation
import Logging
import MCP

/// MCP's stdio transport to a child process: newline-delimited JSON-RPC on its stdin and stdout.
///
/// The SDK's `StdioTransport` reads non-blocking descriptors and sleeps 10 ms whenever nothing is
/// there, which would add up to that much to every tool call; this one is woken by the pipe
/// (Foundation's readability handler, a dispatch source), so a reply is read when it arrives.
public actor ChildProcessTransport: Transport {
    public nonisolated let logger: Logger
    private let command: [String]
    private let process = Process()
    private let stdin = Pipe()
    private let stdout = Pipe()
    private let messages: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation
    private var isConnected = false
    private let onExit: @Sendable (Int32) -> Void

    /// `command`: the program and its arguments (the program found on the PATH when it has no
    /// slash). `onExit` learns the child's exit status, once.
    public init(command: [String], logger: Logger, onExit: @escaping @Sendable (Int32) -> Void) {
        precondition(!command.isEmpty, "an MCP server command needs a program")
        self.command = command
        self.logger = logger
        self.onExit = onExit
        (messages, continuation) = AsyncThrowingStream.makeStream(of: Data.self)
    }

    public func connect() async throws {
        guard !isConnected else { return }
        if command[0].contains("/") {
            process.executableURL = URL(fileURLWithPath: command[0])
            process.arguments = Array(command.dropFirst())
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = command
        }
        process.standardInput = stdin
        process.standardOutput = stdout
        // The server's stderr is its log: the worker's, as the child writes it.
        process.standardError = FileHandle.standardError
        let continuation = continuation
        let lines = LineSplitter()
        stdout.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                continuation.finish()
                return
            }
            for line in lines.append(data) { continuation.yield(line) }
        }
        let onExit = onExit
        process.terminationHandler = { process in onExit(process.terminationStatus) }
        try process.run()
        isConnected = true
    }

    public func disconnect() async {
        guard isConnected else { return }
        isConnected = false
        stdout.fileHandleForReading.readabilityHandler = nil
        try? stdin.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        continuation.finish()
    }

    public func send(_ data: Data) async throws {
        guard isConnected else { throw MCPError.internalError("the MCP server's process is not running") }
        var line = data
        line.append(UInt8(ascii: "\n"))
        try stdin.fileHandleForWriting.write(contentsOf: line)
    }

    public func receive() -> AsyncThrowingStream<Data, any Error> { messages }

    public var processIdentifier: Int32 { process.processIdentifier }
}

/// Newline-delimited messages out of chunks as the pipe delivers them (only ever called from the
/// one readability handler, serially).
final class LineSplitter: @unchecked Sendable {
    private var pending = Data()

    func append(_ chunk: Data) -> [Data] {
        pending.append(chunk)
        var lines: [Data] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            let line = pending[pending.startIndex..<newline]
            if !line.isEmpty { lines.append(Data(line)) }
            pending = pending[(newline + 1)...]
        }
        if pending.isEmpty { pending = Data() }
        return lines
    }
}
