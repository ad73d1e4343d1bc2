import Logging
import ServiceLifecycle
import SwitchboardAuth
import UnixSignals

/// On SIGHUP, reads the token sources and the TLS files again. A file that fails keeps what was
/// loaded before (the server never drops to no auth or no certificate); each reload is audited.
struct CredentialReloadService: Service {
    let security: SecuritySettings
    let logger: Logger

    func run() async throws {
        guard security.authenticator.tokens != nil || security.tls != nil else {
            // Nothing to reload: wait for shutdown like any other service.
            try? await gracefulShutdown()
            return
        }
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        for await _ in hangups.cancelOnGracefulShutdown() { reload() }
    }

    func reload() {
        let audit = security.auditLogger
        if let tokens = security.authenticator.tokens {
            do {
                let count = try tokens.reload()
                audit.notice("audit", metadata: ["action": "credentials.reload", "principal": "SIGHUP", "target": "tokens", "outcome": "ok", "entries": "\(count)"])
            } catch {
                audit.error("audit", metadata: ["action": "credentials.reload", "principal": "SIGHUP", "target": "tokens", "outcome": "failed", "error": "\(error)"])
            }
        }
        if let tls = security.tls {
            do {
                try tls.reload()
                audit.notice("audit", metadata: ["action": "credentials.reload", "principal": "SIGHUP", "target": "tls", "outcome": "ok"])
            } catch {
                audit.error("audit", metadata: ["action": "credentials.reload", "principal": "SIGHUP", "target": "tls", "outcome": "failed", "error": "\(error)"])
            }
        }
    }
}
