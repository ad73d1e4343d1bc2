import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Hummingbird's HTTP/1.1 server, with requests handled on SwiftNIO's event loops instead of
/// Swift's global pool: a request handled on the loop that does its connection's I/O costs no
/// thread hop to the pool and back (two wake-ups, each tens of microseconds on a VM), which is
/// what a remote worker waits for on every lease call. A request goes to another loop only when
/// that one has fewer requests in hand: two busy worker connections accepted on the same loop
/// are then still handled side by side. Handlers never block a thread; work that computes for
/// long belongs in a worker, not in a handler.
extension HTTPServerBuilder {
    static func http1OnEventLoops(configuration: HTTP1Channel.Configuration, group: any EventLoopGroup) -> HTTPServerBuilder {
        let loops = EventLoopBalancer(group)
        return HTTPServerBuilder { responder in
            EventLoopBoundChannel(
                base: HTTP1Channel(
                    responder: { request, writer, channel in
                        let loop = loops.acquire(preferring: channel.eventLoop)
                        defer { loops.release(loop) }
                        var writer: ResponseWriter? = consume writer
                        try await withTaskExecutorPreference(loops.executor(loop)) {
                            try await responder(request, writer.take()!, channel)
                        }
                    },
                    configuration: configuration),
                loops: loops)
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
        await withTaskExecutorPreference(loops.executor(of: value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}

/// The event loops requests are handled on, each with how many requests it has in hand.
final class EventLoopBalancer: Sendable {
    private let loops: [any EventLoop]
    private let executors: [EventLoopTaskExecutor]
    private let inHand: Mutex<[Int]>

    init(_ group: any EventLoopGroup) {
        loops = Array(group.makeIterator())
        executors = loops.map(EventLoopTaskExecutor.init)
        inHand = Mutex(Array(repeating: 0, count: loops.count))
    }

    /// The loop for a new request: `preferred` (its connection's) unless another has fewer
    /// requests in hand.
    func acquire(preferring preferred: any EventLoop) -> Int {
        inHand.withLock { counts in
            var chosen = index(of: preferred)
            for candidate in counts.indices where counts[candidate] < counts[chosen] { chosen = candidate }
            counts[chosen] += 1
            return chosen
        }
    }

    func release(_ loop: Int) {
        inHand.withLock { $0[loop] -= 1 }
    }

    func executor(_ loop: Int) -> EventLoopTaskExecutor { executors[loop] }

    func executor(of eventLoop: any EventLoop) -> EventLoopTaskExecutor { executors[index(of: eventLoop)] }

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
