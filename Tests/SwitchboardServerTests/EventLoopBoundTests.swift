import Hummingbird
import HummingbirdCore
import HummingbirdTesting
import NIOCore
import NIOPosix
import SwitchboardCore
import SwitchboardJSON
import Synchronization
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

@Suite("A heavy request does not stall its loop", .timeLimit(.minutes(1)))
struct HeavyRequestTests {
    /// How long a small request waits beside a parsed batch is in BENCHMARKS.md; timings are too
    /// noisy to assert beside the parallel suites, so this holds the mechanism: where each request runs.
    @Test("a request with a large body runs off the event loops; small ones run on them")
    func largeBodiesLeaveTheLoops() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let router = Router()
        router.post("/where") { request, _ -> String in
            _ = try await request.body.collect(upTo: 2 << 20)
            return MultiThreadedEventLoopGroup.currentEventLoop == nil ? "pool" : "loop"
        }
        let app = Application(
            router: router, server: .http1OnEventLoops(configuration: .init(), group: group),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)), eventLoopGroupProvider: .shared(group))
        try await app.test(.live) { client in
            for (size, expected) in [(100, "loop"), (HTTPServerBuilder.heavyBodyBytes, "loop"), (HTTPServerBuilder.heavyBodyBytes + 1, "pool"), (1 << 20, "pool")] {
                let place = try await client.execute(uri: "/where", method: .post, body: ByteBuffer(repeating: 0x61, count: size)) {
                    String(buffer: $0.body)
                }
                #expect(place == expected, "a body of \(size) bytes")
            }
        }
        try await group.shutdownGracefully()
    }

    @Test("on a one-loop server, a 1 MiB batch is stored whole while small requests on another connection are answered")
    func bigBatchBesideSmallRequests() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let h = ServerHarness(eventLoopGroup: group)
        let pad = String(repeating: "x", count: 900)
        let item = #"{"payload": {"tool_name": "echo", "input": {"pad": "\#(pad)"}}}"#
        let batch = #"{"items": ["# + Array(repeating: item, count: 1000).joined(separator: ",") + "]}"
        #expect(batch.utf8.count > 900_000 && batch.utf8.count < 1 << 20)
        try await h.testLive { port in
            let inFlight = Mutex(true)
            async let heavy: String = {
                let answer = try await rawExchange(
                    port: port,
                    "POST /v1/tasks/batch HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(batch.utf8.count)\r\n\r\n\(batch)",
                    timeout: .seconds(30))
                inFlight.withLock { $0 = false }
                return answer
            }()
            var answered = 0
            while inFlight.withLock({ $0 }) {
                let small = try await rawExchange(port: port, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                #expect(small.hasPrefix("HTTP/1.1 200"))
                answered += 1
            }
            let answer = try await heavy
            #expect(answer.hasPrefix("HTTP/1.1 201"))
            #expect(answered >= 1)
        }
        #expect(try await h.engine.list(TaskFilter(), page: PageRequest(limit: 1000)).items.count == 1000)
        try await group.shutdownGracefully()
    }
}
