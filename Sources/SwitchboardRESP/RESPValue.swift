import NIOCore

/// A value of the Redis serialization protocol, RESP2 or RESP3.
public indirect enum RESPValue: Sendable, Hashable {
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

/// A command: an array of bulk strings.
public struct RESPCommand: Sendable, Hashable, CustomStringConvertible {
    public var arguments: [ByteBuffer]

    public init(_ name: String, _ arguments: [any RESPArgument] = []) {
        self.arguments = [ByteBuffer(string: name)] + arguments.map(\.respBuffer)
    }

    public init(_ name: String, _ arguments: any RESPArgument...) {
        self.init(name, arguments)
    }

    public var name: String { arguments.first.map { String(buffer: $0) } ?? "" }

    /// Writes `*N\r\n` and one `$len\r\n…\r\n` per argument straight into `buffer`.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("*")
        buffer.writeString(String(arguments.count))
        buffer.writeStaticString("\r\n")
        for argument in arguments {
            buffer.writeStaticString("$")
            buffer.writeString(String(argument.readableBytes))
            buffer.writeStaticString("\r\n")
            buffer.writeImmutableBuffer(argument)
            buffer.writeStaticString("\r\n")
        }
    }

    /// The command name only: arguments may hold secrets (AUTH) or large payloads.
    public var description: String { name }
}

/// Something that can be a command argument.
public protocol RESPArgument: Sendable {
    var respBuffer: ByteBuffer { get }
}

extension String: RESPArgument {
    public var respBuffer: ByteBuffer { ByteBuffer(string: self) }
}

extension Substring: RESPArgument {
    public var respBuffer: ByteBuffer { ByteBuffer(string: String(self)) }
}

extension Int: RESPArgument {
    public var respBuffer: ByteBuffer { ByteBuffer(string: String(self)) }
}

extension Int64: RESPArgument {
    public var respBuffer: ByteBuffer { ByteBuffer(string: String(self)) }
}

extension UInt64: RESPArgument {
    public var respBuffer: ByteBuffer { ByteBuffer(string: String(self)) }
}

extension ByteBuffer: RESPArgument {
    public var respBuffer: ByteBuffer { self }
}

extension Array: RESPArgument where Element == UInt8 {
    public var respBuffer: ByteBuffer { ByteBuffer(bytes: self) }
}
