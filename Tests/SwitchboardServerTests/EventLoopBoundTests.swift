import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@testable import SwitchboardServer

@Suite("Requests handled on event loops")
struct EventLoopBoundTests {
    @Test("a request goes to its connection's loop unless another has fewer in hand")
    func balancing() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 3)
        defer { try? group.syncShutdownGracefully() }
        let loops = Array(group.makeIterator())
        let balancer = EventLoopBalancer(group)
        #expect(balancer.acquire(preferring: loops[1]) == 1, "all idle: its own")
        #expect(balancer.acquire(preferring: loops[1]) == 0, "its own is busier: the first idle one")
        #expect(balancer.acquire(preferring: loops[1]) == 2)
        #expect(balancer.acquire(preferring: loops[1]) == 1, "all equally busy: its own")
        balancer.release(2)
        #expect(balancer.acquire(preferring: loops[0]) == 2, "the one that finished")
        balancer.release(0)
        balancer.release(1)
        #expect(balancer.acquire(preferring: loops[0]) == 0)
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
