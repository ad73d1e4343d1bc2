import NIOCore

/// A value of the Redis serialization protocol, RESP2 or RESP3.
public enum RESPValue: Sendable, Hashable {
    case simpleString(String)
    /// A simple or blob error, as the server sent it (`ERR …`, `NOSCRIPT …`).
    case error(String)
    case integer(Int64)
    case bulkString(ByteBuffer)
    /// RESP2's null bulk string and null array, and RESP3's null.
    case null
    case array([RESPValue])
    case double(Double)
    case boolean(Bool)
    case bigNumber(String)
    /// The text of a verbatim string, without its three-letter format.
    case verbatimString(String)
    /// Key-value pairs in the order the server sent them.
    case map([RESPValue], [RESPValue])
    case set([RESPValue])
    /// Out-of-band data (pub/sub messages, invalidations) that answers no command.
    case push([RESPValue])

    /// The value as text, when it is a string of some kind.
    public var string: String? {
        switch self {
        case .simpleString(let s), .verbatimString(let s), .bigNumber(let s): s
        case .bulkString(let buffer): String(buffer: buffer)
        default: nil
        }
    }

    /// The value as an integer, when it is one (or a string holding one, as Redis often replies).
    public var int: Int64? {
        switch self {
        case .integer(let i): i
        case .bulkString, .simpleString: string.flatMap { Int64($0) }
        default: nil
        }
    }

    public var array: [RESPValue]? {
        switch self {
        case .array(let values), .set(let values), .push(let values): values
        default: nil
        }
    }

    public var isNull: Bool { self == .null }
}

/// A command: an array of bulk strings, encoded once, when it is made, into one buffer.
public struct RESPCommand: Sendable, Hashable, CustomStringConvertible {
    /// The command name only: arguments may hold secrets (AUTH) or large payloads.
    public let name: String
    /// `*N\r\n` and one `$len\r\n…\r\n` per argument, the name included.
    public let encoded: ByteBuffer

    public init(_ name: String, _ arguments: [any RESPArgument] = []) {
        self.name = name
        var buffer = ByteBuffer()
        buffer.reserveCapacity(16 + name.utf8.count + arguments.count * 24)
        buffer.writeStaticString("*")
        buffer.writeDecimal(arguments.count + 1)
        buffer.writeStaticString("\r\n")
        name.writeRESPBulk(into: &buffer)
        for argument in arguments { argument.writeRESPBulk(into: &buffer) }
        self.encoded = buffer
    }

    public init(_ name: String, _ arguments: any RESPArgument...) {
        self.init(name, arguments)
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeImmutableBuffer(encoded)
    }

    public var description: String { name }
}

/// Something that can be a command argument: it writes itself as a bulk string.
public protocol RESPArgument: Sendable {
    func writeRESPBulk(into buffer: inout ByteBuffer)
}

extension ByteBuffer {
    /// A decimal, without making a String.
    mutating func writeDecimal(_ value: Int) {
        writeDecimal(UInt64(value))
    }

    mutating func writeDecimal(_ value: UInt64) {
        if value < 10 {
            writeInteger(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 24 digits
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { raw in
            while rest > 0 {
                raw[23 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            }
            writeBytes(UnsafeRawBufferPointer(rebasing: raw[(24 - count)...]))
        }
    }

    mutating func writeBulkHeader(length: Int) {
        writeStaticString("$")
        writeDecimal(length)
        writeStaticString("\r\n")
    }
}

extension String: RESPArgument {
    public func writeRESPBulk(into buffer: inout ByteBuffer) {
        buffer.writeBulkHeader(length: utf8.count)
        buffer.writeString(self)
        buffer.writeStaticString("\r\n")
    }
}

extension Substring: RESPArgument {
    public func writeRESPBulk(into buffer: inout ByteBuffer) {
        buffer.writeBulkHeader(length: utf8.count)
        buffer.writeSubstring(self)
        buffer.writeStaticString("\r\n")
    }
}

extension Int: RESPArgument {
    public func writeRESPBulk(into buffer: inout ByteBuffer) {
        Int64(self).writeRESPBulk(into: &buffer)
    }
}

extension Int64: RESPArgument {
    public func writeRESPBulk(into buffer: inout ByteBuffer) {
        let negative = self < 0
        let magnitude = self.magnitude
        var length = negative ? 2 : 1
        var probe = magnitude
        while probe >= 10 {
            probe /= 10
            length += 1
        }
        buffer.writeBulkHeader(length: length)
        if negative { buffer.writeStaticString("-") }
        buffer.writeDecimal(magnitude)
        buffer.writeStaticString("\r\n")
    }
}

extension UInt64: RESPArgument {
    public func writeRESPBulk(into buffer: inout ByteBuffer) {
        var length = 1
        var probe = self
        while probe >= 10 {
            probe /= 10
            length += 1
        }
        buffer.writeBulkHeader(length: length)
        buffer.writeDecimal(self)
        buffer.writeStaticString("\r\n")
    }
}

extension ByteBuffer: RESPArgument {
    public func writeRESPBulk(into buffer: inout ByteBuffer) {
        buffer.writeBulkHeader(length: readableBytes)
        buffer.writeImmutableBuffer(self)
        buffer.writeStaticString("\r\n")
    }
}

extension Array: RESPArgument where Element == UInt8 {
    public func writeRESPBulk(into buffer: inout ByteBuffer) {
        buffer.writeBulkHeader(length: count)
        buffer.writeBytes(self)
        buffer.writeStaticString("\r\n")
    }
}
