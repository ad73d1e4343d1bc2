import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// HTTPS with swift-nio-ssl: TLS 1.2 or later, and, with a client CA, mutual TLS (every client
/// must present a certificate that CA signed). The files are read again by `reload()` (SIGHUP):
/// connections opened afterwards use the new certificate; open ones keep theirs, undisturbed.
/// (HummingbirdTLS's `TLSChannel` holds one context for the server's life, hence this.)
public final class ServerTLS: Sendable {
    public struct Files: Sendable, Hashable {
        /// PEM: the server's certificate, then any intermediates.
        public var certificateChain: String
        /// PEM: its private key.
        public var privateKey: String
        /// PEM: the CA that signs client certificates; nil: no client certificates asked for.
        public var clientCA: String?

        public init(certificateChain: String, privateKey: String, clientCA: String? = nil) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
            self.clientCA = clientCA
        }
    }

    public let files: Files
    private let context: Mutex<NIOSSLContext>

    /// Reads the files; a missing, unreadable or expired certificate refuses to start.
    public init(_ files: Files) throws {
        self.files = files
        context = Mutex(try Self.makeContext(files))
    }

    /// Reads the files again; on any failure the current certificate stays and this throws.
    public func reload() throws {
        let fresh = try Self.makeContext(files)
        context.withLock { $0 = fresh }
    }

    public var requiresClientCertificates: Bool { files.clientCA != nil }

    var current: NIOSSLContext { context.withLock { $0 } }

    private static func makeContext(_ files: Files) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificateChain)
        } catch {
            throw TLSFileError("the certificate file \(files.certificateChain) cannot be read as PEM: \(error)")
        }
        guard let leaf = chain.first else { throw TLSFileError("the certificate file \(files.certificateChain) holds no certificate") }
        let now = time(nil)
        guard leaf.notValidAfter > now else {
            throw TLSFileError("the certificate in \(files.certificateChain) expired at \(Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter)))")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: files.privateKey, format: .pem)
        } catch {
            throw TLSFileError("the key file \(files.privateKey) cannot be read as a PEM private key: \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let ca = files.clientCA {
            guard FileManager.default.isReadableFile(atPath: ca) else { throw TLSFileError("the client CA file \(ca) cannot be read") }
            configuration.trustRoots = .file(ca)
            // Client certificates carry no host name to check; the CA's signature is what counts.
            configuration.certificateVerification = .noHostnameVerification
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSFileError("the certificate and key do not make a TLS context (do they belong together?): \(error)")
        }
    }
}

public struct TLSFileError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}

/// A connection that speaks TLS (with the context current when it opened), then `Base`.
struct TLSServerChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let tls: ServerTLS

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.current))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
