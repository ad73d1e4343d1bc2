import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@testable import SwitchboardServer

@Suite("Requests handled on event loops")
struct EventLoopBoundTests {
    @Test("a request goes to its connection's loop unless another has fewer in hand, or as few and fewer other connections")
    func balancing() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 3)
        defer { try? group.syncShutdownGracefully() }
        let loops = Array(group.makeIterator())
        let balancer = EventLoopBalancer(group)
        // One connection on each of loops 0 and 1.
        #expect(balancer.connected(loops[0]) == 0 && balancer.connected(loops[1]) == 1)
        #expect(balancer.acquire(preferring: loops[1]) == 1, "all idle, no other connection on its own: its own")
        #expect(balancer.acquire(preferring: loops[1]) == 2, "its own is busy: the idle loop without connections")
        #expect(balancer.acquire(preferring: loops[0]) == 0, "its own is as idle as any")
        #expect(balancer.acquire(preferring: loops[1]) == 1, "all equally busy, its own has no other connection")
        balancer.release(2)
        #expect(balancer.acquire(preferring: loops[0]) == 2, "the one that finished")
        for loop in [0, 1, 1, 2] { balancer.release(loop) }
        // A second connection on loop 1: loop 1's requests go where there is none to serve.
        #expect(balancer.connected(loops[1]) == 1)
        #expect(balancer.acquire(preferring: loops[1]) == 2)
        #expect(balancer.acquire(preferring: loops[1]) == 1, "loop 2 is busy now, loop 0 serves a connection: its own")
        balancer.disconnected(1)
        balancer.release(2)
        #expect(balancer.acquire(preferring: loops[1]) == 2, "its own has a request in hand: the idle loop without connections")
    }

    @Test("what prefers a loop's executor runs on that loop, its child tasks too")
    func executorRunsOnItsLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        for loop in group.makeIterator() {
            let (here, children) = await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) {
                let here = loop.inEventLoop
                let children = await withTaskGroup(of: Bool.self) { tasks in
                    for _ in 0..<4 { tasks.addTask { loop.inEventLoop } }
                    return await tasks.reduce(true) { $0 && $1 }
                }
                return (here, children)
            }
            #expect(here && children)
        }
        try await group.shutdownGracefully()
    }

    @Test("the server's handlers run on the group's event loops, one answer per request however many are in flight")
    func handlersRunOnLoops() async throws {
        let router = Router()
        router.get("/where") { _, _ -> String in
            MultiThreadedEventLoopGroup.currentEventLoop == nil ? "pool" : "loop"
        }
        let app = Application(
            router: router,
            server: .http1OnEventLoops(configuration: .init(), group: MultiThreadedEventLoopGroup.singleton),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            try await withThrowingTaskGroup(of: String.self) { requests in
                for _ in 0..<20 {
                    requests.addTask { String(buffer: try await client.execute(uri: "/where", method: .get).body) }
                }
                for try await answer in requests { #expect(answer == "loop") }
            }
        }
    }
}
