import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Hummingbird's HTTP/1.1 server, with requests handled on SwiftNIO's event loops instead of
/// Swift's global pool: a request handled on the loop that does its connection's I/O costs no
/// thread hop to the pool and back (two wake-ups, each tens of microseconds on a VM), which is
/// what a remote worker waits for on every lease call. A loop busy with one request cannot even
/// read the next request of another connection it serves, so a request goes to a free loop
/// (idle, serving no connection) when its own is busy or serves other connections
/// (`EventLoopBalancer.acquire`): two busy worker connections accepted on the same loop are then
/// still handled side by side. Handlers never block a thread; work that computes for long
/// belongs in a worker, not in a handler.
extension HTTPServerBuilder {
    /// Bodies over this are parsed off the event loops (a batch of a thousand small tasks is
    /// about 100 KiB; the lease and completion calls of workers stay well below it).
    static let heavyBodyBytes = 64 << 10

    static func http1OnEventLoops(configuration: HTTP1Channel.Configuration, group: any EventLoopGroup, tls: ServerTLS? = nil) -> HTTPServerBuilder {
        let loops = EventLoopBalancer(group)
        return HTTPServerBuilder { responder -> any ServerChildChannel in
            let channel = EventLoopBoundChannel(
                base: HTTP1Channel(
                    responder: { request, writer, channel in
                        var writer: ResponseWriter? = consume writer
                        // A large body means a long parse and validation: it runs on Swift's
                        // pool, so that its loop keeps reading and answering its other
                        // connections meanwhile (a loop busy with one request serves nobody else).
                        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > Self.heavyBodyBytes {
                            try await withTaskExecutorPreference(globalConcurrentExecutor) {
                                try await responder(request, writer.take()!, channel)
                            }
                            return
                        }
                        let loop = loops.acquire(preferring: channel.eventLoop)
                        defer { loops.release(loop) }
                        try await withTaskExecutorPreference(loops.executor(loop)) {
                            try await responder(request, writer.take()!, channel)
                        }
                    },
                    configuration: configuration),
                loops: loops)
            guard let tls else { return channel }
            return TLSServerChannel(base: channel, tls: tls)
        }
    }
}

/// A connection's reading and answering run on its own event loop.
struct EventLoopBoundChannel: ServerChildChannel {
    let base: HTTP1Channel
    let loops: EventLoopBalancer

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        base.setup(channel: channel, logger: logger)
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        let loop = loops.connected(value.channel.eventLoop)
        defer { loops.disconnected(loop) }
        await withTaskExecutorPreference(loops.executor(loop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}

/// The event loops requests are handled on: for each, the requests it has in hand and the
/// connections whose I/O it does.
final class EventLoopBalancer: Sendable {
    private struct Load {
        var requests = 0
        var connections = 0
    }

    private let loops: [any EventLoop]
    private let executors: [EventLoopTaskExecutor]
    private let load: Mutex<[Load]>

    init(_ group: any EventLoopGroup) {
        loops = Array(group.makeIterator())
        executors = loops.map(EventLoopTaskExecutor.init)
        load = Mutex(Array(repeating: Load(), count: loops.count))
    }

    /// A connection whose I/O `eventLoop` does has opened; its index.
    func connected(_ eventLoop: any EventLoop) -> Int {
        let loop = index(of: eventLoop)
        load.withLock { $0[loop].connections += 1 }
        return loop
    }

    func disconnected(_ loop: Int) {
        load.withLock { $0[loop].connections -= 1 }
    }

    /// The loop for a new request on a connection of `own`: `own`, unless it is busy or serves
    /// other connections and a loop is free — idle and serving no connection, so that it has
    /// nothing else to read or answer meanwhile. With connections on every loop (many clients)
    /// a request never hops; with a few busy ones, two that share a loop still run side by side.
    func acquire(preferring own: any EventLoop) -> Int {
        let own = index(of: own)
        return load.withLock { loads in
            var chosen = own
            if loads[own].requests > 0 || loads[own].connections > 1,
                let free = loads.indices.first(where: { loads[$0].requests == 0 && loads[$0].connections == 0 })
            {
                chosen = free
            }
            loads[chosen].requests += 1
            return chosen
        }
    }

    func release(_ loop: Int) {
        load.withLock { $0[loop].requests -= 1 }
    }

    func executor(_ loop: Int) -> EventLoopTaskExecutor { executors[loop] }

    private func index(of eventLoop: any EventLoop) -> Int {
        loops.firstIndex { $0 === eventLoop } ?? 0
    }
}

/// Runs jobs on one event loop: what a task prefers to run on (`withTaskExecutorPreference`),
/// its child tasks included, unless an actor it calls is elsewhere.
final class EventLoopTaskExecutor: TaskExecutor {
    private let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
