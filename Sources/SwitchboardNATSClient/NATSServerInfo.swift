import Foundation
import NIOCore

/// The parts of the server's `INFO` the client uses.
public struct NATSServerInfo: Sendable, Hashable, Decodable {
    public var serverID: String
    public var serverName: String?
    public var version: String
    public var maxPayload: Int
    public var headers: Bool?
    public var authRequired: Bool?
    public var tlsRequired: Bool?
    public var tlsAvailable: Bool?
    public var nonce: String?
    public var jetStream: Bool?
    public var connectURLs: [String]?
    public var lameDuckMode: Bool?

    enum CodingKeys: String, CodingKey {
        case serverID = "server_id", serverName = "server_name", version, maxPayload = "max_payload", headers
        case authRequired = "auth_required", tlsRequired = "tls_required", tlsAvailable = "tls_available", nonce
        case jetStream = "jetstream", connectURLs = "connect_urls", lameDuckMode = "ldm"
    }

    public init(json: ByteBuffer) throws {
        self = try JSONDecoder().decode(NATSServerInfo.self, from: Data(json.readableBytesView))
    }

    /// `major.minor.patch` as numbers (a suffix such as `-beta` is ignored).
    public var versionNumbers: (major: Int, minor: Int, patch: Int)? {
        let parts = version.split(separator: "-").first?.split(separator: ".").compactMap { Int($0) } ?? []
        guard parts.count == 3 else { return nil }
        return (parts[0], parts[1], parts[2])
    }

    /// Whether this server is at least `major.minor`.
    public func isAtLeast(major: Int, minor: Int) -> Bool {
        guard let v = versionNumbers else { return false }
        return v.major > major || (v.major == major && v.minor >= minor)
    }
}
