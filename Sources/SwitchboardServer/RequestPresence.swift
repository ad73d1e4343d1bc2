import NIOCore
import ServiceLifecycle
import SwitchboardCore
import Synchronization

/// The presence of a long-poll's caller (a waiting lease or lock acquire): it has left when its
/// client's side of the connection ends, or when the server starts shutting down (a long-poll
/// must not hold up the drain of in-flight requests for its whole wait).
struct RequestPresence: CallerPresence {
    let channel: (any Channel)?
    private let shutdown = Shutdown()

    init(channel: (any Channel)?) {
        self.channel = channel
    }

    /// Whether the server's shutdown ended the wait (rather than the client going away).
    var isShuttingDown: Bool { shutdown.started.load(ordering: .relaxed) }

    func left() async {
        await withTaskGroup(of: Void.self) { group in
            if let channel {
                group.addTask { await ConnectionWatch.clientGone(of: channel) }
            }
            group.addTask { [shutdown] in
                if (try? await gracefulShutdown()) != nil { shutdown.started.store(true, ordering: .relaxed) }
            }
            await group.next()
            group.cancelAll()
        }
    }

    var hasLeft: Bool {
        get async {
            guard let channel else { return isShuttingDown }
            return await ConnectionWatch.hasClientGone(channel) || isShuttingDown
        }
    }

    private final class Shutdown: Sendable {
        let started = Atomic<Bool>(false)
    }
}
