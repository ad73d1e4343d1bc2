import Foundation
import NIOCore

/// JetStream's API over a NATS connection: stream and consumer management, publish with its
/// acknowledgement, pull fetch, acks and direct get. Requests and answers are JSON on
/// `$JS.API.…` subjects; an answer with an `error` member becomes `JetStreamError`.
public struct JetStream: Sendable {
    public let client: NATSClient
    /// The API prefix (`$JS.API`, or a domain's).
    public var prefix = "$JS.API"
    public var timeout: Duration = .seconds(5)

    public init(client: NATSClient) {
        self.client = client
    }

    // MARK: API calls

    /// One API call: `body` (JSON) to `$JS.API.<subject>`; the answer's JSON, or the error it holds.
    public func call(_ subject: String, body: [String: Any]? = nil) async throws -> [String: Any] {
        var payload = Data()
        if let body { payload = try JSONSerialization.data(withJSONObject: body) }
        let reply = try await client.request("\(prefix).\(subject)", payload: ByteBuffer(bytes: payload), timeout: timeout)
        return try Self.answer(reply)
    }

    static func answer(_ reply: NATSMessage) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(reply.payload.readableBytesView)) as? [String: Any] else {
            throw JetStreamError(code: 0, errorCode: 0, description: "JetStream answered with something other than a JSON object")
        }
        if let error = object["error"] as? [String: Any] {
            throw JetStreamError(
                code: error["code"] as? Int ?? 0, errorCode: error["err_code"] as? Int ?? 0, description: error["description"] as? String ?? "")
        }
        return object
    }

    /// Whether this server has JetStream (the account's info answers).
    public func accountInfo() async throws -> [String: Any] { try await call("INFO") }

    // MARK: Streams

    /// Creates the stream, or updates it when it exists with another configuration.
    @discardableResult
    public func createOrUpdateStream(_ config: [String: Any]) async throws -> [String: Any] {
        guard let name = config["name"] as? String else { throw JetStreamError(code: 0, errorCode: 0, description: "a stream needs a name") }
        let created: [String: Any]
        do {
            created = try await call("STREAM.CREATE.\(name)", body: config)
        } catch {
            guard let refusal = error as? JetStreamError, refusal.errorCode == JetStreamError.streamNameInUse else { throw error }
            return try await call("STREAM.UPDATE.\(name)", body: config)
        }
        return created
    }

    public func streamInfo(_ name: String) async throws -> [String: Any] { try await call("STREAM.INFO.\(name)") }

    public func deleteStream(_ name: String) async throws { _ = try await call("STREAM.DELETE.\(name)") }

    // MARK: Publishing

    /// Publishes into a stream and waits for its acknowledgement: the stream and sequence it was
    /// stored at, and whether it was a duplicate of a `Nats-Msg-Id` seen within the window.
    /// `expectedLastSubjectSequence` makes it a compare-and-set (0: the subject must be empty).
    public func publish(
        _ subject: String, payload: ByteBuffer, messageID: String? = nil, expectedLastSubjectSequence: UInt64? = nil,
        headers extra: NATSHeaders? = nil
    ) async throws -> PubAck {
        var headers = extra ?? NATSHeaders()
        if let messageID { headers.append("Nats-Msg-Id", messageID) }
        if let expectedLastSubjectSequence { headers.append("Nats-Expected-Last-Subject-Sequence", "\(expectedLastSubjectSequence)") }
        let reply = try await client.request(subject, payload: payload, headers: headers.fields.isEmpty ? nil : headers, timeout: timeout)
        return try Self.pubAck(reply)
    }

    public struct PubAck: Sendable, Hashable {
        public var stream: String
        public var sequence: UInt64
        public var duplicate: Bool
    }

    // MARK: Consumers

    /// Creates (or updates) a durable consumer of `stream`.
    @discardableResult
    public func createOrUpdateConsumer(stream: String, _ config: [String: Any]) async throws -> [String: Any] {
        guard let name = config["durable_name"] as? String ?? config["name"] as? String else {
            throw JetStreamError(code: 0, errorCode: 0, description: "a consumer needs a name")
        }
        return try await call("CONSUMER.CREATE.\(stream).\(name)", body: ["stream_name": stream, "config": config])
    }

    public func deleteConsumer(stream: String, name: String) async throws { _ = try await call("CONSUMER.DELETE.\(stream).\(name)") }

    /// Pulls up to `batch` messages of a pull consumer, waiting up to `expires` for the first
    /// (`noWait`: only what is there now). Status messages end the fetch (404 nothing there, 408
    /// expired, 409 the request was refused) or are skipped (100 heartbeats).
    public func fetch(stream: String, consumer: String, batch: Int, expires: Duration = .seconds(1), noWait: Bool = false) async throws
        -> [NATSMessage]
    {
        let connection = try await client.connection()
        let inbox = "\(connection.inbox).fetch.\(UInt64.random(in: 0...UInt64.max))"
        let replies = try await connection.subscribe(inbox)
        var request: [String: Any] = ["batch": batch]
        if noWait {
            request["no_wait"] = true
        } else {
            request["expires"] = expires.wholeMilliseconds * 1_000_000
        }
        let body = try JSONSerialization.data(withJSONObject: request)
        // The server ends a fetch with a status (or its last message); should its answer go
        // missing, the subscription is ended a second after the expiry.
        let deadline = connection.channel.eventLoop.scheduleTask(in: TimeAmount(expires + .seconds(1))) {
            Task { try? await replies.unsubscribe() }
        }
        var messages: [NATSMessage] = []
        var failure: JetStreamError?
        do {
            try await connection.publish("\(prefix).CONSUMER.MSG.NEXT.\(stream).\(consumer)", payload: ByteBuffer(bytes: body), replyTo: inbox)
        } catch {
            deadline.cancel()
            try? await replies.unsubscribe()
            throw error
        }
        receiving: for await message in replies {
            switch message.status {
            case nil:
                messages.append(message)
                if messages.count == batch { break receiving }
            case 100:
                continue
            case 404, 408:
                break receiving
            case 409:
                // "Exceeded MaxWaiting" and the like end a fetch with what came; any other 409 on
                // an empty fetch is the request's refusal.
                let description = message.headers?.statusDescription ?? ""
                if messages.isEmpty, !description.lowercased().contains("exceeded") {
                    failure = JetStreamError(code: 409, errorCode: 0, description: description)
                }
                break receiving
            default:
                failure = JetStreamError(code: message.status ?? 0, errorCode: 0, description: message.headers?.statusDescription ?? "")
                break receiving
            }
        }
        deadline.cancel()
        try? await replies.unsubscribe()
        if let failure { throw failure }
        return messages
    }

    /// Acknowledges a message from a consumer (`+ACK`); `doubleAck` waits for the server to
    /// confirm it took the ack.
    public func ack(_ message: NATSMessage, doubleAck: Bool = false) async throws {
        try await reply(to: message, with: "+ACK", confirm: doubleAck)
    }

    /// Asks for redelivery, after `delay` if given.
    public func nak(_ message: NATSMessage, delay: Duration? = nil) async throws {
        try await reply(to: message, with: delay.map { "-NAK {\"delay\":\($0.wholeMilliseconds * 1_000_000)}" } ?? "-NAK", confirm: false)
    }

    /// Resets the message's ack wait (work in progress).
    public func inProgress(_ message: NATSMessage) async throws { try await reply(to: message, with: "+WPI", confirm: false) }

    /// Stops redelivery of the message for good.
    public func terminate(_ message: NATSMessage) async throws { try await reply(to: message, with: "+TERM", confirm: false) }

    private func reply(to message: NATSMessage, with text: String, confirm: Bool) async throws {
        guard let subject = message.replyTo else { throw JetStreamError(code: 0, errorCode: 0, description: "the message has no reply subject to ack") }
        if confirm {
            _ = try await client.request(subject, payload: ByteBuffer(string: text), timeout: timeout)
        } else {
            try await client.publish(subject, payload: ByteBuffer(string: text))
        }
    }

    /// Where a consumed message sits: its stream sequence and delivery count, read from its ack
    /// subject (`$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>`,
    /// with a domain and account hash in front in newer servers).
    public static func metadata(of message: NATSMessage) -> (streamSequence: UInt64, delivered: Int)? {
        guard let tokens = message.replyTo?.split(separator: "."), tokens.count == 9 || tokens.count >= 11,
            tokens[0] == "$JS", tokens[1] == "ACK"
        else { return nil }
        let delivered = tokens.count == 9 ? 4 : 6
        guard let count = Int(tokens[delivered]), let sequence = UInt64(tokens[delivered + 1]) else { return nil }
        return (sequence, count)
    }

    // MARK: Direct get

    /// The last message on `subject` in `stream` (direct get: any replica answers), nil when there
    /// is none. The stream must allow direct access.
    public func lastMessage(stream: String, subject: String) async throws -> StoredMessage? {
        let reply = try await client.request("\(prefix).DIRECT.GET.\(stream).\(subject)", payload: ByteBuffer(), timeout: timeout)
        if reply.status == 404 { return nil }
        if let status = reply.status {
            throw JetStreamError(code: status, errorCode: 0, description: reply.headers?.statusDescription ?? "direct get failed")
        }
        guard let sequence = reply.headers?["Nats-Sequence"].flatMap(UInt64.init) else {
            throw JetStreamError(code: 0, errorCode: 0, description: "a direct get answer without Nats-Sequence")
        }
        return StoredMessage(subject: reply.headers?["Nats-Subject"] ?? subject, sequence: sequence, headers: reply.headers, payload: reply.payload)
    }

    /// The last message on `subject`, asked of the stream's leader rather than any replica (a
    /// replica may lag): what a compare-and-set that was refused re-reads. Nil when there is none.
    /// Of its headers only the time it was stored (`storedAt`) is kept.
    public func lastMessageFromLeader(stream: String, subject: String) async throws -> StoredMessage? {
        let answer: [String: Any]
        do {
            answer = try await call("STREAM.MSG.GET.\(stream)", body: ["last_by_subj": subject])
        } catch let error as JetStreamError where error.errorCode == JetStreamError.noMessageFound {
            return nil
        }
        guard let message = answer["message"] as? [String: Any], let sequence = (message["seq"] as? NSNumber)?.uint64Value else {
            throw JetStreamError(code: 0, errorCode: 0, description: "a message get answer without seq")
        }
        let data = (message["data"] as? String).flatMap { Data(base64Encoded: $0) } ?? Data()
        let headers = (message["time"] as? String).map { NATSHeaders([("Nats-Time-Stamp", $0)]) }
        return StoredMessage(subject: message["subject"] as? String ?? subject, sequence: sequence, headers: headers, payload: ByteBuffer(bytes: data))
    }

    public struct StoredMessage: Sendable, Hashable {
        public var subject: String
        public var sequence: UInt64
        public var headers: NATSHeaders?
        public var payload: ByteBuffer

        /// When the stream stored it, on the NATS server's clock (RFC 3339 with nanoseconds).
        public var storedAt: String? { headers?["Nats-Time-Stamp"] }
    }

    /// The subjects holding messages in `stream` that match `filter`, with their counts.
    public func subjects(stream: String, filter: String) async throws -> [String: Int] {
        let info = try await call("STREAM.INFO.\(stream)", body: ["subjects_filter": filter])
        let counts = (info["state"] as? [String: Any])?["subjects"] as? [String: Any] ?? [:]
        return counts.compactMapValues { ($0 as? NSNumber)?.intValue }
    }
}

/// An error JetStream answered with: its HTTP-like `code` and its own `err_code`.
public struct JetStreamError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Int
    public var errorCode: Int
    public var errorDescription: String

    public init(code: Int, errorCode: Int, description: String) {
        self.code = code
        self.errorCode = errorCode
        self.errorDescription = description
    }

    public var description: String { "JetStream error \(code)/\(errorCode): \(errorDescription)" }

    /// `err_code`s the client acts on.
    public static let streamNameInUse = 10058
    public static let streamNotFound = 10059
    public static let consumerNotFound = 10014
    /// A compare-and-set that lost: "wrong last sequence".
    public static let wrongLastSequence = 10071
    /// The same refusal, without the sequence (atomic batches answer this one).
    public static let wrongLastSequenceConstant = 10164
    public static let noMessageFound = 10037
}
