import Foundation
import NIOCore
import SwitchboardCore
import SwitchboardJSON
import SwitchboardNATS
import SwitchboardNATSClient

/// End to end through NATS JetStream, the same shape as `redis` (`BenchScenarios.endToEnd`). Its baseline, in the same run
/// with the same client: small messages through JetStream alone (published with their acks, 64
/// in flight; pulled 100 at a time by 8 consumers and acked).
enum BenchNATS {
    static func run(quick: Bool, url: NATSURL) async throws {
        let tasks = quick ? 5_000 : 100_000
        let client = NATSClient(NATSClient.Configuration(url: url))
        defer { client.close() }
        let jetStream = JetStream(client: client)
        let baseline = try await jetStreamRate(jetStream, messages: quick ? 10_000 : 200_000)

        let prefix = "bench\(UInt32.random(in: 0...UInt32.max))"
        let backend = NATSTaskBackend(client: client, prefix: prefix)
        try await backend.start()
        defer {
            backend.close()
            Task { try? await jetStream.deleteStream(backend.streamName) }
        }
        let engine = TaskEngine(backend: backend)
        let elapsed = try await BenchScenarios.endToEnd(engine, tasks: tasks)
        BenchResult(
            scenario: "nats", backend: "nats", tasks: tasks, seconds: elapsed,
            baselineName: "JetStream publish+ack, pull fetch+ack (our client)", baselinePerSec: baseline
        ).print()
    }

    /// Messages per second through a file-backed stream: published (64 awaiting their acks at a
    /// time) while 8 consumers pull batches of 100 and ack each message.
    static func jetStreamRate(_ jetStream: JetStream, messages: Int) async throws -> Double {
        let stream = "benchbase\(UInt32.random(in: 0...UInt32.max))"
        try await jetStream.createOrUpdateStream(["name": stream, "subjects": ["\(stream).>"], "storage": "file", "retention": "workqueue"])
        defer { Task { try? await jetStream.deleteStream(stream) } }
        try await jetStream.createOrUpdateConsumer(
            stream: stream, ["durable_name": "work", "ack_policy": "explicit", "max_ack_pending": 100_000, "ack_wait": 60_000_000_000])
        let toPublish = Counter(messages)
        let toReceive = Counter(messages)
        let payload = ByteBuffer(string: #"{"type":"noop"}"#)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    while toPublish.take(upTo: 1) == 1 { _ = try await jetStream.publish("\(stream).work", payload: payload) }
                }
            }
            for _ in 0..<8 {
                group.addTask {
                    while toReceive.value > 0 {
                        let batch = try await jetStream.fetch(stream: stream, consumer: "work", batch: 100, expires: .milliseconds(200))
                        for message in batch { try await jetStream.ack(message) }
                        toReceive.add(-batch.count)
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(messages) / BenchScenarios.seconds(since: start)
    }
}
