import Hummingbird
import HummingbirdAuth
import NIOCore
import NIOSSL
import SwitchboardAuth
import SwitchboardCore

/// hummingbird-auth's authenticator middleware: reads the bearer token (or, under mTLS, the
/// client certificate's names), asks the `Authenticator` for the principal, and meters it.
/// A credential that fails does not refuse the request here — `/healthz` and the page stay
/// open —: the failure is kept in the context, and routes that need a principal answer 401
/// with it (`RouteAccess`). A principal over its rate is refused here (429).
struct AuthenticationMiddleware<Context: SwitchboardContext>: AuthenticatorMiddleware {
    typealias Identity = Principal

    let authenticator: Authenticator
    let clock: any SwitchboardClock
    /// Whether connections carry verified client certificates worth reading (mTLS with rules).
    let readsClientCertificates: Bool

    func authenticate(request: Request, context: Context) async throws -> Principal? {
        var bearer = request.headers.bearer?.token
        if bearer == nil, let authorization = request.headers[.authorization] {
            guard authorization.lowercased().hasPrefix("bearer ") else {
                throw AuthError.unauthenticated("the Authorization header must be a bearer token (Authorization: Bearer …)")
            }
            bearer = String(authorization.dropFirst("bearer ".count))
        }
        var names: [String]?
        if bearer == nil, readsClientCertificates, let channel = context.channel {
            names = await Self.clientCertificateNames(of: channel)
        }
        return try await authenticator.authenticate(bearer: bearer, certificateNames: names, now: clock.now())
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        do {
            context.identity = try await authenticate(request: request, context: context)
        } catch let error as AuthError {
            context.authFailure = error
        }
        if let principal = context.identity { try authenticator.admit(principal, at: .now) }
        return try await next(request, context)
    }

    /// The names of the connection's verified client certificate (none without one).
    static func clientCertificateNames(of channel: any Channel) async -> [String]? {
        let der = try? await channel.pipeline.handler(type: NIOSSLServerHandler.self).map { handler in
            try? handler.peerCertificate?.toDERBytes()
        }.get()
        guard let der else { return nil }
        return CertificateNames.of(derEncoded: der)
    }
}
