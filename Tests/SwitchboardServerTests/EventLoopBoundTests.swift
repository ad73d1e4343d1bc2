import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@testable import SwitchboardServer

@Suite("Requests handled on event loops")
struct EventLoopBoundTests {
    @Test("a request stays on its connection's loop unless that one is busy or serves others and a loop is free")
    func balancing() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 3)
        defer { try? group.syncShutdownGracefully() }
        let loops = Array(group.makeIterator())
        let balancer = EventLoopBalancer(group)
        // One connection on each of loops 0 and 1; none on loop 2.
        #expect(balancer.connected(loops[0]) == 0 && balancer.connected(loops[1]) == 1)
        #expect(balancer.acquire(preferring: loops[1]) == 1, "idle, no other connection: its own")
        #expect(balancer.acquire(preferring: loops[1]) == 2, "its own is busy: the free loop")
        #expect(balancer.acquire(preferring: loops[0]) == 0, "its own is idle")
        #expect(balancer.acquire(preferring: loops[0]) == 0, "busy, but no loop is free: its own")
        balancer.release(2)
        #expect(balancer.acquire(preferring: loops[1]) == 2, "loop 2 is free again")
        for loop in [0, 0, 1, 2] { balancer.release(loop) }
        // A second connection on loop 1: its requests go to the loop that serves none.
        #expect(balancer.connected(loops[1]) == 1)
        #expect(balancer.acquire(preferring: loops[1]) == 2)
        #expect(balancer.acquire(preferring: loops[1]) == 1, "loop 0 is idle but serves a connection: its own")
        for loop in [1, 2] { balancer.release(loop) }
        // Every loop serves a connection: no request hops.
        #expect(balancer.connected(loops[2]) == 2)
        #expect(balancer.acquire(preferring: loops[1]) == 1)
        #expect(balancer.acquire(preferring: loops[1]) == 1)
        for loop in [1, 1] { balancer.release(loop) }
        balancer.disconnected(2)
        #expect(balancer.acquire(preferring: loops[1]) == 2, "loop 2's connection went: free again")
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
