import Foundation
import NIOCore
@testable import SwitchboardNATSClient
import SwitchboardTesting
import Testing

@Suite("JetStream against a real nats-server", .enabled(if: natsServerBinary != nil), .timeLimit(.minutes(1)))
struct JetStreamTests {
    func jetStream() async throws -> (NATSServerProcess, NATSClient, JetStream) {
        let server = try await NATSServerProcess(jetStream: true)
        let client = NATSClient(NATSClient.Configuration(url: try server.url()))
        return (server, client, JetStream(client: client))
    }

    @Test("streams: create, update, info, delete; API errors carry JetStream's codes")
    func streams() async throws {
        let (server, client, js) = try await jetStream()
        defer {
            client.close()
            server.stop()
        }
        try await js.createOrUpdateStream(["name": "TASKS", "subjects": ["tasks.>"], "storage": "memory"])
        try await js.createOrUpdateStream(["name": "TASKS", "subjects": ["tasks.>", "more.>"], "storage": "memory"])
        let info = try await js.streamInfo("TASKS")
        #expect(((info["config"] as? [String: Any])?["subjects"] as? [String]) == ["tasks.>", "more.>"])
        try await js.deleteStream("TASKS")
        do {
            _ = try await js.streamInfo("TASKS")
            Issue.record("a deleted stream answered")
        } catch let error as JetStreamError {
            #expect(error.code == 404 && error.errorCode == JetStreamError.streamNotFound)
        }
    }

    @Test("publish: acknowledged with stream and sequence; a repeated Nats-Msg-Id is a duplicate; an expected last subject sequence is a compare-and-set")
    func publish() async throws {
        let (server, client, js) = try await jetStream()
        defer {
            client.close()
            server.stop()
        }
        try await js.createOrUpdateStream(["name": "S", "subjects": ["s.>"], "storage": "file"])
        let first = try await js.publish("s.a", payload: ByteBuffer(string: "1"), messageID: "m-1")
        #expect(first.stream == "S" && first.sequence == 1 && !first.duplicate)
        let again = try await js.publish("s.a", payload: ByteBuffer(string: "1"), messageID: "m-1")
        #expect(again.duplicate && again.sequence == 1)
        let second = try await js.publish("s.a", payload: ByteBuffer(string: "2"), expectedLastSubjectSequence: 1)
        #expect(second.sequence == 2)
        do {
            _ = try await js.publish("s.a", payload: ByteBuffer(string: "3"), expectedLastSubjectSequence: 1)
            Issue.record("a stale compare-and-set was accepted")
        } catch let error as JetStreamError {
            #expect(error.errorCode == JetStreamError.wrongLastSequence, "\(error)")
        }
        await #expect(throws: NATSError.noResponders(subject: "nowhere.x")) {
            _ = try await js.publish("nowhere.x", payload: ByteBuffer())
        }
    }

    @Test("pull consumers: fetch a batch, no_wait on an empty stream, acked messages stay acked, a nak is redelivered")
    func pull() async throws {
        let (server, client, js) = try await jetStream()
        defer {
            client.close()
            server.stop()
        }
        try await js.createOrUpdateStream(["name": "WORK", "subjects": ["work.>"], "retention": "workqueue", "storage": "memory"])
        try await js.createOrUpdateConsumer(stream: "WORK", [
            "durable_name": "workers", "ack_policy": "explicit", "ack_wait": 30_000_000_000, "max_deliver": -1,
        ])
        #expect(try await js.fetch(stream: "WORK", consumer: "workers", batch: 10, noWait: true).isEmpty, "404: nothing there")
        for i in 0..<5 { _ = try await js.publish("work.job", payload: ByteBuffer(string: "\(i)")) }
        let batch = try await js.fetch(stream: "WORK", consumer: "workers", batch: 3, expires: .seconds(1))
        #expect(batch.map { String(buffer: $0.payload) } == ["0", "1", "2"])
        let metadata = try #require(JetStream.metadata(of: batch[0]))
        #expect(metadata.streamSequence == 1 && metadata.delivered == 1)
        try await js.ack(batch[0], doubleAck: true)
        try await js.ack(batch[1], doubleAck: true)
        try await js.nak(batch[2])
        let rest = try await js.fetch(stream: "WORK", consumer: "workers", batch: 10, expires: .milliseconds(500))
        #expect(Set(rest.map { String(buffer: $0.payload) }) == ["2", "3", "4"], "the nak'd one again, and the rest")
        let redelivered = try #require(rest.first { String(buffer: $0.payload) == "2" })
        #expect(JetStream.metadata(of: redelivered)?.delivered == 2)
        let started = ContinuousClock.now
        #expect(try await js.fetch(stream: "WORK", consumer: "workers", batch: 1, expires: .milliseconds(300)).isEmpty)
        #expect(ContinuousClock.now - started >= .milliseconds(250), "waited for the expiry (408)")
    }

    @Test("KV: put and get with revisions, create only once, update by revision, delete, create again after a delete")
    func keyValue() async throws {
        let (server, client, js) = try await jetStream()
        defer {
            client.close()
            server.stop()
        }
        let kv = try await KeyValueBucket.create(jetStream: js, bucket: "records")
        #expect(try await kv.get("t1") == nil)
        #expect(try await kv.lastRevision("t1") == 0)
        let created = try await kv.create("t1", ByteBuffer(string: "pending"))
        await #expect(throws: JetStreamError.self) { try await kv.create("t1", ByteBuffer(string: "again")) }
        let entry = try #require(try await kv.get("t1"))
        #expect(String(buffer: entry.value) == "pending" && entry.revision == created)
        let updated = try await kv.update("t1", ByteBuffer(string: "running"), revision: created)
        do {
            try await kv.update("t1", ByteBuffer(string: "lost race"), revision: created)
            Issue.record("an update naming an old revision was accepted")
        } catch let error as JetStreamError {
            #expect(error.errorCode == JetStreamError.wrongLastSequence)
        }
        #expect(try await kv.get("t1").map { String(buffer: $0.value) } == "running")
        try await kv.delete("t1", revision: updated)
        #expect(try await kv.get("t1") == nil)
        let recreated = try await kv.create("t1", ByteBuffer(string: "new"))
        #expect(recreated > updated)
        #expect(try await kv.get("t1")?.revision == recreated)
        await #expect(throws: NATSUsageError.self) { try await kv.put("bad key", ByteBuffer()) }
    }
}
