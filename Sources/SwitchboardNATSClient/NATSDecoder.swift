import NIOCore

/// Why bytes from the server are not the NATS protocol, and where.
public struct NATSParsingError: Error, Sendable, Hashable, CustomStringConvertible {
    public var offset: Int
    public var reason: String

    public var description: String { "malformed NATS protocol at byte \(offset): \(reason)" }
}

/// Bounds on what the server may send, so that a broken or hostile peer cannot exhaust memory.
public struct NATSLimits: Sendable, Hashable {
    /// A server's INFO in a large cluster (its `connect_urls`) runs past the 4 KiB the server
    /// allows its clients' lines.
    public var maxControlLine = 64 * 1024
    /// The largest message payload accepted (the server's `max_payload` tops out at 64 MiB).
    public var maxPayload = 64 * 1024 * 1024
    public var maxHeaderBytes = 64 * 1024
    public var maxHeaderFields = 1024

    public init() {}
}

/// Decodes whole server operations. One is produced only once all of it (a message with its
/// payload) has arrived and been validated; until then the buffer is left as it was. Operation
/// names are case-insensitive and arguments are separated by spaces or tabs, as the protocol says.
public struct NATSDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = NATSServerOperation

    public let limits: NATSLimits

    public init(limits: NATSLimits = NATSLimits()) {
        self.limits = limits
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> NATSServerOperation? {
        let start = buffer.readerIndex
        guard let lineEnd = try controlLineEnd(buffer) else { return nil }
        let line = buffer.getSlice(at: start, length: lineEnd - start)!
        let afterLine = lineEnd + 2
        func failure(_ reason: String, at offset: Int = 0) -> NATSParsingError { NATSParsingError(offset: offset, reason: reason) }

        let view = line.readableBytesView
        let nameEnd = view.firstIndex { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") } ?? view.endIndex
        let name = String(decoding: view[view.startIndex..<nameEnd], as: UTF8.self).uppercased()
        let rest = line.getSlice(at: line.readerIndex + (nameEnd - view.startIndex), length: view.endIndex - nameEnd)!
        switch name {
        case "PING", "PONG", "+OK":
            guard rest.readableBytesView.allSatisfy(Self.isBlank) else { throw failure("\(name) takes no arguments") }
            buffer.moveReaderIndex(to: afterLine)
            return name == "PING" ? .ping : name == "PONG" ? .pong : .ok
        case "-ERR":
            var text = String(decoding: rest.readableBytesView, as: UTF8.self).trimmingBlanks
            if text.count >= 2, text.hasPrefix("'"), text.hasSuffix("'") { text = String(text.dropFirst().dropLast()) }
            buffer.moveReaderIndex(to: afterLine)
            return .error(text)
        case "INFO":
            var json = rest
            while let first = json.readableBytesView.first, Self.isBlank(first) { json.moveReaderIndex(forwardBy: 1) }
            guard json.readableBytesView.first == UInt8(ascii: "{") else { throw failure("INFO needs a JSON object") }
            buffer.moveReaderIndex(to: afterLine)
            return .info(json)
        case "MSG", "HMSG":
            let arguments = Self.words(rest)
            let headed = name == "HMSG"
            // MSG subject sid [reply] size; HMSG subject sid [reply] header-size total-size
            let sizes = headed ? 2 : 1
            guard arguments.count == 2 + sizes || arguments.count == 3 + sizes else {
                throw failure("\(name) needs subject, sid, an optional reply subject and \(sizes) size(s)")
            }
            let replyTo = arguments.count == 3 + sizes ? arguments[2] : nil
            guard let total = Int(arguments[arguments.count - 1]), total >= 0 else { throw failure("\(name) size is not a number") }
            guard total <= limits.maxPayload else { throw failure("message of \(total) bytes is over the limit of \(limits.maxPayload)") }
            var headerSize = 0
            if headed {
                guard let size = Int(arguments[arguments.count - 2]), size >= 0, size <= total else {
                    throw failure("HMSG header size is not a number within the total")
                }
                guard size <= limits.maxHeaderBytes else { throw failure("header block of \(size) bytes is over the limit") }
                headerSize = size
            }
            // The payload and its CRLF must all be here.
            guard buffer.writerIndex - afterLine >= total + 2 else { return nil }
            guard buffer.getInteger(at: afterLine + total, as: UInt8.self) == UInt8(ascii: "\r"),
                buffer.getInteger(at: afterLine + total + 1, as: UInt8.self) == UInt8(ascii: "\n")
            else { throw failure("message payload not followed by CRLF", at: afterLine + total - start) }
            let headers = headed ? try parseHeaders(buffer.getSlice(at: afterLine, length: headerSize)!, offset: afterLine - start) : nil
            let payload = buffer.getSlice(at: afterLine + headerSize, length: total - headerSize)!
            buffer.moveReaderIndex(to: afterLine + total + 2)
            return .message(
                NATSMessage(subject: arguments[0], subscriptionID: arguments[1], replyTo: replyTo, headers: headers, payload: payload))
        default:
            throw failure("unknown operation \(name.prefix(16).debugDescription)")
        }
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> NATSServerOperation? {
        try decode(buffer: &buffer)
    }

    /// The index of the CR ending the control line, nil while it has not all arrived.
    private func controlLineEnd(_ buffer: ByteBuffer) throws -> Int? {
        let view = buffer.readableBytesView
        let searched = view.prefix(limits.maxControlLine + 2)
        guard let newline = searched.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > limits.maxControlLine + 1 {
                throw NATSParsingError(offset: 0, reason: "control line longer than \(limits.maxControlLine) bytes")
            }
            return nil
        }
        guard newline > view.startIndex, view[newline - 1] == UInt8(ascii: "\r") else {
            throw NATSParsingError(offset: newline - view.startIndex, reason: "line feed without carriage return")
        }
        return buffer.readerIndex + (newline - 1 - view.startIndex)
    }

    /// `NATS/1.0[ status[ description]]\r\n(Name: value\r\n)*\r\n`, read as bytes (as text,
    /// CR LF would be one character).
    private func parseHeaders(_ block: ByteBuffer, offset: Int) throws -> NATSHeaders {
        func failure(_ reason: String) -> NATSParsingError { NATSParsingError(offset: offset, reason: reason) }
        let bytes = Array(block.readableBytesView)
        guard bytes.count >= 4, bytes.suffix(4).elementsEqual([13, 10, 13, 10]) else {
            throw failure("header block does not end with an empty line")
        }
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        while index + 1 < bytes.count - 2 {
            if bytes[index] == 13, bytes[index + 1] == 10 {
                lines.append(bytes[start..<index])
                start = index + 2
                index += 2
            } else {
                index += 1
            }
        }
        guard let version = lines.first, version.starts(with: Array("NATS/1.0".utf8)) else {
            throw failure("header block does not start with NATS/1.0")
        }
        var headers = NATSHeaders()
        let status = String(decoding: version.dropFirst(8), as: UTF8.self).trimmingBlanks
        if !status.isEmpty {
            let code = status.prefix { $0.isASCII && $0.isNumber }
            guard code.count == 3, let value = Int(String(code)) else { throw failure("header status is not a three-digit code") }
            headers.status = value
            let description = status.dropFirst(3).trimmingBlanks
            headers.statusDescription = description.isEmpty ? nil : description
        }
        guard lines.count - 1 <= limits.maxHeaderFields else { throw failure("more than \(limits.maxHeaderFields) header fields") }
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else { throw failure("header line without a name") }
            headers.append(String(decoding: line[..<colon], as: UTF8.self), String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingBlanks)
        }
        return headers
    }

    static func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }

    static func words(_ buffer: ByteBuffer) -> [String] {
        buffer.readableBytesView.split(whereSeparator: isBlank).map { String(decoding: $0, as: UTF8.self) }
    }
}

extension StringProtocol {
    var trimmingBlanks: String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else { return "" }
        return String(self[first...last])
    }
}
