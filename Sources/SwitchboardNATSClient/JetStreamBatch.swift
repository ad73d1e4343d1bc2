import Foundation
import NIOCore

extension JetStream {
    /// One message of an atomic batch: where it goes, and the compare-and-set it makes.
    public struct BatchMessage: Sendable {
        public var subject: String
        public var payload: ByteBuffer
        /// The subject's last sequence this write expects (0: the subject must be empty); nil: none.
        public var expectedLastSubjectSequence: UInt64?
        public var headers: NATSHeaders?

        public init(subject: String, payload: ByteBuffer, expectedLastSubjectSequence: UInt64? = nil, headers: NATSHeaders? = nil) {
            self.subject = subject
            self.payload = payload
            self.expectedLastSubjectSequence = expectedLastSubjectSequence
            self.headers = headers
        }
    }

    /// The most messages one atomic batch may hold (the server's default `max_msgs`).
    public static let maxBatchMessages = 1000

    /// Stores all of `messages` in one stream, or none (atomic batch publish, server 2.12+, the
    /// stream allowing it): every compare-and-set is checked against the stream as it was before
    /// the batch, at commit. Returns the commit's acknowledgement: its sequence is the last
    /// message's, the others' come right before it, in order. One message is a plain publish.
    ///
    /// The messages before the commit go out in one write without asking for the server's
    /// zero-byte answers (the server keeps a connection's messages in order), so a batch costs
    /// one round trip. Two writes to one subject in a batch cannot both carry an expectation.
    public func publishAtomically(_ messages: [BatchMessage]) async throws -> PubAck {
        guard let last = messages.last else { throw JetStreamError(code: 0, errorCode: 0, description: "an empty batch") }
        guard messages.count > 1 else {
            return try await publish(
                last.subject, payload: last.payload, expectedLastSubjectSequence: last.expectedLastSubjectSequence, headers: last.headers)
        }
        guard messages.count <= Self.maxBatchMessages else {
            throw JetStreamError(code: 0, errorCode: 0, description: "a batch holds at most \(Self.maxBatchMessages) messages")
        }
        let connection = try await client.connection()
        let id = Self.batchID()
        var staged: [(subject: String, headers: NATSHeaders?, payload: ByteBuffer)] = []
        staged.reserveCapacity(messages.count)
        for (index, message) in messages.enumerated() {
            var headers = message.headers ?? NATSHeaders()
            headers.append("Nats-Batch-Id", id)
            headers.append("Nats-Batch-Sequence", "\(index + 1)")
            if let expected = message.expectedLastSubjectSequence {
                headers.append("Nats-Expected-Last-Subject-Sequence", "\(expected)")
            }
            if index == messages.count - 1 { headers.append("Nats-Batch-Commit", "1") }
            staged.append((message.subject, headers, message.payload))
        }
        // All but the commit in one write, then the commit as a request on the same connection.
        let commit = staged.removeLast()
        try await connection.publish(batch: staged)
        let reply = try await connection.request(commit.subject, payload: commit.payload, headers: commit.headers, timeout: timeout)
        return try Self.pubAck(reply)
    }

    static func pubAck(_ reply: NATSMessage) throws -> PubAck {
        let answer = try answer(reply)
        guard let stream = answer["stream"] as? String, let sequence = (answer["seq"] as? NSNumber)?.uint64Value else {
            throw JetStreamError(code: 0, errorCode: 0, description: "a publish acknowledgement without stream and seq")
        }
        return PubAck(stream: stream, sequence: sequence, duplicate: answer["duplicate"] as? Bool ?? false)
    }

    /// 22 random base-62 characters (the server allows 64).
    private static func batchID() -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        var generator = SystemRandomNumberGenerator()
        return String(decoding: (0..<22).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] }, as: UTF8.self)
    }
}
