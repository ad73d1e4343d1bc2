import NIOCore

/// Why a client operation cannot be sent (checked before anything is written).
public struct NATSUsageError: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String

    public var description: String { reason }
}

/// What the client sends, written straight into a buffer.
public enum NATSClientOperation: Sendable {
    /// `CONNECT {json}`: the options, already JSON.
    case connect(String)
    case publish(subject: String, replyTo: String?, headers: NATSHeaders?, payload: ByteBuffer)
    case subscribe(subject: String, queueGroup: String?, subscriptionID: String)
    case unsubscribe(subscriptionID: String, after: Int?)
    case ping
    case pong

    /// Checks subjects and names, so that a bad one fails here instead of confusing the server
    /// (which closes the connection on a malformed line). Throws `NATSUsageError`; untyped, as
    /// typed throws inlined into an async caller crashed Swift 6.3's optimizer (coroutine split).
    public func validate() throws {
        switch self {
        case .publish(let subject, let replyTo, let headers, _):
            try Self.check(subject: subject, wildcards: false)
            if let replyTo { try Self.check(subject: replyTo, wildcards: false) }
            if let headers {
                for field in headers.fields {
                    guard !field.name.isEmpty, field.name.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }) else {
                        throw NATSUsageError(reason: "header name \(field.name.debugDescription) is not printable ASCII without ':'")
                    }
                    guard !field.value.utf8.contains(where: { $0 == 13 || $0 == 10 }) else {
                        throw NATSUsageError(reason: "header value of \(field.name) holds a line break")
                    }
                }
            }
        case .subscribe(let subject, let queueGroup, let sid):
            try Self.check(subject: subject, wildcards: true)
            if let queueGroup { try Self.check(token: queueGroup, what: "queue group") }
            try Self.check(token: sid, what: "subscription id")
        case .unsubscribe(let sid, let after):
            try Self.check(token: sid, what: "subscription id")
            if let after, after < 0 { throw NATSUsageError(reason: "UNSUB max must not be negative") }
        case .connect(let json):
            guard !json.utf8.contains(where: { $0 == 13 || $0 == 10 }) else { throw NATSUsageError(reason: "CONNECT options hold a line break") }
        case .ping, .pong:
            break
        }
    }

    /// A subject: dot-separated non-empty tokens of printable characters without whitespace;
    /// `*` and `>` only as whole tokens, `>` last, and only where wildcards are allowed.
    static func check(subject: String, wildcards: Bool) throws {
        let tokens = subject.split(separator: ".", omittingEmptySubsequences: false)
        guard !subject.isEmpty, subject.utf8.count <= 4096 else { throw NATSUsageError(reason: "a subject must be 1-4096 bytes") }
        for (index, token) in tokens.enumerated() {
            guard !token.isEmpty else { throw NATSUsageError(reason: "subject \(subject.debugDescription) has an empty token") }
            guard token.utf8.allSatisfy({ $0 > 32 && $0 != 127 }) else {
                throw NATSUsageError(reason: "subject \(subject.debugDescription) holds whitespace or control characters")
            }
            if token == "*" || token == ">" {
                guard wildcards else { throw NATSUsageError(reason: "subject \(subject.debugDescription) has a wildcard where none may be") }
                if token == ">", index != tokens.count - 1 {
                    throw NATSUsageError(reason: "'>' must be the last token of \(subject.debugDescription)")
                }
            } else if token.contains("*") || token.contains(">") {
                throw NATSUsageError(reason: "wildcards must be whole tokens in \(subject.debugDescription)")
            }
        }
    }

    static func check(token: String, what: String) throws {
        guard !token.isEmpty, token.utf8.allSatisfy({ $0 > 32 && $0 != 127 }) else {
            throw NATSUsageError(reason: "a \(what) must be non-empty printable characters without whitespace")
        }
    }

    /// The header block as it goes on the wire (`NATS/1.0\r\n…\r\n\r\n`).
    static func headerBlock(_ headers: NATSHeaders) -> [UInt8] {
        var text = "NATS/1.0"
        if let status = headers.status { text += " \(status)" + (headers.statusDescription.map { " " + $0 } ?? "") }
        text += "\r\n"
        for field in headers.fields { text += "\(field.name): \(field.value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// The bytes of this operation (not validated: call `validate()` first).
    public func write(to buffer: inout ByteBuffer) {
        switch self {
        case .connect(let json):
            buffer.writeString("CONNECT \(json)\r\n")
        case .publish(let subject, let replyTo, let headers, let payload):
            let reply = replyTo.map { " " + $0 } ?? ""
            if let headers {
                let block = Self.headerBlock(headers)
                buffer.writeString("HPUB \(subject)\(reply) \(block.count) \(block.count + payload.readableBytes)\r\n")
                buffer.writeBytes(block)
            } else {
                buffer.writeString("PUB \(subject)\(reply) \(payload.readableBytes)\r\n")
            }
            buffer.writeImmutableBuffer(payload)
            buffer.writeString("\r\n")
        case .subscribe(let subject, let queueGroup, let sid):
            buffer.writeString("SUB \(subject)\(queueGroup.map { " " + $0 } ?? "") \(sid)\r\n")
        case .unsubscribe(let sid, let after):
            buffer.writeString("UNSUB \(sid)\(after.map { " \($0)" } ?? "")\r\n")
        case .ping:
            buffer.writeString("PING\r\n")
        case .pong:
            buffer.writeString("PONG\r\n")
        }
    }

    /// The payload bytes that count against the server's `max_payload` (headers included).
    var payloadSize: Int {
        guard case .publish(_, _, let headers, let payload) = self else { return 0 }
        return payload.readableBytes + (headers.map { Self.headerBlock($0).count } ?? 0)
    }
}
