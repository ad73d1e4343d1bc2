import NIOCore

/// A JetStream key-value bucket, by the KV conventions (ADR-8): stream `KV_<bucket>` on subjects
/// `$KV.<bucket>.<key>`, the last message per subject is the value, its stream sequence the
/// revision; writes can be conditional on the revision (compare-and-set).
public struct KeyValueBucket: Sendable {
    public let jetStream: JetStream
    public let bucket: String

    public var stream: String { "KV_\(bucket)" }

    public init(jetStream: JetStream, bucket: String) {
        self.jetStream = jetStream
        self.bucket = bucket
    }

    /// Creates (or updates) the bucket's stream: `history` values kept per key, `replicas`
    /// copies, file storage unless told otherwise.
    /// `messageTTL`: writes may carry a `Nats-TTL` header (2.11+), after which the server
    /// removes them (at least one second).
    public static func create(
        jetStream: JetStream, bucket: String, history: Int = 1, replicas: Int = 1, memoryStorage: Bool = false, messageTTL: Bool = false
    ) async throws -> KeyValueBucket {
        try NATSClientOperation.check(token: bucket, what: "bucket name")
        let kv = KeyValueBucket(jetStream: jetStream, bucket: bucket)
        var config: [String: Any] = [
            "name": kv.stream, "subjects": ["$KV.\(bucket).>"], "max_msgs_per_subject": history, "discard": "new",
            "allow_rollup_hdrs": true, "deny_delete": true, "allow_direct": true, "num_replicas": replicas,
            "storage": memoryStorage ? "memory" : "file", "max_age": 0, "duplicate_window": 120_000_000_000,
        ]
        if messageTTL { config["allow_msg_ttl"] = true }
        try await jetStream.createOrUpdateStream(config)
        return kv
    }

    /// The key's last write, deletes included (nil: never written, or removed by its TTL).
    public func lastWrite(_ key: String) async throws -> JetStream.StoredMessage? {
        try await jetStream.lastMessage(stream: stream, subject: try subject(key))
    }

    public struct Entry: Sendable, Hashable {
        public var key: String
        public var value: ByteBuffer
        public var revision: UInt64
    }

    func subject(_ key: String) throws -> String {
        let subject = "$KV.\(bucket).\(key)"
        try NATSClientOperation.check(subject: subject, wildcards: false)
        return subject
    }

    /// The key's value and revision; nil when it has none (never written, or deleted).
    public func get(_ key: String) async throws -> Entry? {
        guard let stored = try await jetStream.lastMessage(stream: stream, subject: try subject(key)) else { return nil }
        if let operation = stored.headers?["KV-Operation"], operation == "DEL" || operation == "PURGE" { return nil }
        return Entry(key: key, value: stored.payload, revision: stored.sequence)
    }

    /// The revision of the key's last write, deletes included (0: never written): what a
    /// compare-and-set names.
    public func lastRevision(_ key: String) async throws -> UInt64 {
        try await jetStream.lastMessage(stream: stream, subject: try subject(key))?.sequence ?? 0
    }

    /// Writes unconditionally; the new revision.
    @discardableResult
    public func put(_ key: String, _ value: ByteBuffer) async throws -> UInt64 {
        try await jetStream.publish(try subject(key), payload: value).sequence
    }

    /// Writes only if the key's last write is `revision` (0: only if it was never written);
    /// the new revision, or `JetStreamError` with `wrongLastSequence` when someone wrote first.
    @discardableResult
    public func update(_ key: String, _ value: ByteBuffer, revision: UInt64, headers: NATSHeaders? = nil) async throws -> UInt64 {
        try await jetStream.publish(try subject(key), payload: value, expectedLastSubjectSequence: revision, headers: headers).sequence
    }

    /// Writes only if the key has no value (never written, or deleted).
    @discardableResult
    public func create(_ key: String, _ value: ByteBuffer) async throws -> UInt64 {
        do {
            return try await update(key, value, revision: 0)
        } catch let error as JetStreamError where error.errorCode == JetStreamError.wrongLastSequence {
            // A deleted key may be created again: write over its delete marker, conditionally.
            guard let last = try await jetStream.lastMessage(stream: stream, subject: try subject(key)),
                let operation = last.headers?["KV-Operation"], operation == "DEL" || operation == "PURGE"
            else { throw error }
            return try await update(key, value, revision: last.sequence)
        }
    }

    /// Deletes the key's value (a delete marker), only if its last write is `revision` when given.
    @discardableResult
    public func delete(_ key: String, revision: UInt64? = nil, headers extra: NATSHeaders? = nil) async throws -> UInt64 {
        var headers = NATSHeaders([("KV-Operation", "DEL")])
        for field in extra?.fields ?? [] { headers.append(field.name, field.value) }
        return try await jetStream.publish(try subject(key), payload: ByteBuffer(), expectedLastSubjectSequence: revision, headers: headers)
            .sequence
    }

    /// Whether a stored write is a delete marker.
    public static func isDelete(_ message: JetStream.StoredMessage) -> Bool {
        guard let operation = message.headers?["KV-Operation"] else { return false }
        return operation == "DEL" || operation == "PURGE"
    }
}
