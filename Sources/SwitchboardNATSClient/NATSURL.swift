/// Where NATS servers are: `nats://[user:password@ | token@]host[:port][,host[:port]…]`, or
/// `tls://` for TLS. Several hosts are the seed list of one cluster.
public struct NATSURL: Sendable, Hashable, CustomStringConvertible {
    public struct Server: Sendable, Hashable {
        public var host: String
        public var port: Int
    }

    public var servers: [Server]
    public var user: String?
    public var password: String?
    public var token: String?
    public var tls: Bool

    public init(_ text: String) throws(NATSURLError) {
        var rest: Substring
        if text.hasPrefix("nats://") {
            tls = false
            rest = text.dropFirst("nats://".count)
        } else if text.hasPrefix("tls://") {
            tls = true
            rest = text.dropFirst("tls://".count)
        } else {
            throw NATSURLError("a NATS URL starts with nats:// or tls://")
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = String(credentials[..<colon]).removingPercentEncoding
                password = String(credentials[credentials.index(after: colon)...]).removingPercentEncoding
            } else {
                token = String(credentials).removingPercentEncoding
            }
            guard user?.isEmpty != true, token?.isEmpty != true else { throw NATSURLError("empty credentials in the NATS URL") }
        }
        servers = []
        for part in rest.split(separator: ",", omittingEmptySubsequences: false) {
            var host = part
            var port = 4222
            if let colon = part.lastIndex(of: ":"), !part.hasSuffix("]") {
                guard let value = Int(part[part.index(after: colon)...]), (1...65535).contains(value) else {
                    throw NATSURLError("the port of \(part) must be 1-65535")
                }
                port = value
                host = part[..<colon]
            }
            if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
            guard !host.isEmpty, !host.contains("/") else { throw NATSURLError("a NATS URL needs host[:port] entries, not \(part.debugDescription)") }
            servers.append(Server(host: String(host), port: port))
        }
    }

    /// The URL without its credentials, for logs.
    public var description: String {
        let hosts = servers.map { $0.host.contains(":") ? "[\($0.host)]:\($0.port)" : "\($0.host):\($0.port)" }
        let credentials = user != nil ? "\(user!):***@" : token != nil ? "***@" : ""
        return (tls ? "tls://" : "nats://") + credentials + hosts.joined(separator: ",")
    }
}

public struct NATSURLError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}

extension String {
    fileprivate var removingPercentEncoding: String? {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(), let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
