import NIOCore

/// Why bytes from the server are not RESP, and where.
public struct RESPParsingError: Error, Sendable, Hashable, CustomStringConvertible {
    public var offset: Int
    public var reason: String

    public var description: String { "malformed RESP at byte \(offset): \(reason)" }
}

/// Bounds on what one reply may hold, so a broken or hostile peer cannot exhaust memory or stack.
public struct RESPLimits: Sendable, Hashable {
    public var maxDepth = 32
    /// Redis's own `proto-max-bulk-len` default.
    public var maxBulkLength = 512 * 1024 * 1024
    public var maxElements = 16 * 1024 * 1024
    public var maxLineLength = 64 * 1024

    public init() {}
}

/// Decodes whole RESP2/RESP3 values. A value is produced only once all of it has arrived and
/// been validated; until then the buffer is left as it was. Attributes (`|`) are read and
/// dropped, as the protocol allows a client to.
public struct RESPDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = RESPValue

    public let limits: RESPLimits

    public init(limits: RESPLimits = RESPLimits()) {
        self.limits = limits
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        var parser = Parser(buffer: buffer, limits: limits)
        guard let value = try parser.value(depth: 0) else { return nil }
        buffer.moveReaderIndex(to: parser.index)
        return value
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        try decode(buffer: &buffer)
    }

    /// Parses from `index` on without moving the buffer; nil means "not all here yet".
    struct Parser {
        let buffer: ByteBuffer
        let limits: RESPLimits
        var index: Int

        init(buffer: ByteBuffer, limits: RESPLimits) {
            self.buffer = buffer
            self.limits = limits
            self.index = buffer.readerIndex
        }

        private var end: Int { buffer.writerIndex }

        private func failure(_ reason: String, at offset: Int? = nil) -> RESPParsingError {
            RESPParsingError(offset: (offset ?? index) - buffer.readerIndex, reason: reason)
        }

        mutating func value(depth: Int) throws(RESPParsingError) -> RESPValue? {
            guard depth <= limits.maxDepth else { throw failure("nesting deeper than \(limits.maxDepth)") }
            guard index < end, let type = buffer.getInteger(at: index, as: UInt8.self) else { return nil }
            let start = index
            index += 1
            let result: RESPValue?
            switch type {
            case UInt8(ascii: "+"):
                result = try line().map { .simpleString($0) }
            case UInt8(ascii: "-"):
                result = try line().map { .error($0) }
            case UInt8(ascii: ":"):
                result = try integerLine().map { .integer($0) }
            case UInt8(ascii: "$"):
                result = try blob(nullable: true).map { $0.map(RESPValue.bulkString) ?? .null }
            case UInt8(ascii: "!"):
                result = try blob(nullable: false).map { .error(String(buffer: $0!)) }
            case UInt8(ascii: "="):
                result = try verbatim()
            case UInt8(ascii: "*"):
                result = try aggregate(depth: depth, perElement: 1).map { $0.map(RESPValue.array) ?? .null }
            case UInt8(ascii: "~"):
                result = try aggregate(depth: depth, perElement: 1).map { .set($0 ?? []) }
            case UInt8(ascii: ">"):
                result = try aggregate(depth: depth, perElement: 1).map { .push($0 ?? []) }
            case UInt8(ascii: "%"):
                result = try aggregate(depth: depth, perElement: 2).map { pairs in
                    let values = pairs ?? []
                    return .map(stride(from: 0, to: values.count, by: 2).map { values[$0] },
                                stride(from: 1, to: values.count, by: 2).map { values[$0] })
                }
            case UInt8(ascii: "|"):
                // An attribute: read and drop it, then the value it annotates follows.
                guard try aggregate(depth: depth, perElement: 2) != nil else { return nil }
                return try value(depth: depth)
            case UInt8(ascii: "_"):
                guard let text = try line() else { return nil }
                guard text.isEmpty else { throw failure("a null carries no data", at: start) }
                result = .null
            case UInt8(ascii: "#"):
                guard let text = try line() else { return nil }
                switch text {
                case "t": result = .boolean(true)
                case "f": result = .boolean(false)
                default: throw failure("a boolean is t or f", at: start)
                }
            case UInt8(ascii: ","):
                guard let text = try line() else { return nil }
                guard let double = Self.double(text) else { throw failure("not a double: \(text)", at: start) }
                result = .double(double)
            case UInt8(ascii: "("):
                guard let text = try line() else { return nil }
                let digits = text.first == "-" ? text.dropFirst() : Substring(text)
                guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit) else { throw failure("not a big number", at: start) }
                result = .bigNumber(text)
            default:
                throw failure("unknown type byte 0x\(String(type, radix: 16))", at: start)
            }
            if result == nil { index = start }
            return result
        }

        /// A line up to CRLF (not included); nil when the CRLF has not arrived.
        private mutating func line() throws(RESPParsingError) -> String? {
            guard let bytes = try lineBytes() else { return nil }
            return String(decoding: bytes, as: UTF8.self)
        }

        private mutating func lineBytes() throws(RESPParsingError) -> ByteBufferView? {
            let available = end - index
            let searchLength = min(available, limits.maxLineLength + 2)
            guard let view = buffer.viewBytes(at: index, length: searchLength) else { return nil }
            guard let cr = view.firstIndex(of: UInt8(ascii: "\r")) else {
                if available > limits.maxLineLength + 1 { throw failure("line longer than \(limits.maxLineLength) bytes") }
                return nil
            }
            let lineLength = cr - view.startIndex
            guard index + lineLength + 1 < end else { return nil }
            guard buffer.getInteger(at: index + lineLength + 1, as: UInt8.self) == UInt8(ascii: "\n") else {
                throw failure("expected LF after CR", at: index + lineLength + 1)
            }
            let line = buffer.viewBytes(at: index, length: lineLength)!
            guard !line.contains(UInt8(ascii: "\n")) else { throw failure("LF inside a line") }
            index += lineLength + 2
            return line
        }

        private mutating func integerLine() throws(RESPParsingError) -> Int64? {
            let start = index
            guard let bytes = try lineBytes() else { return nil }
            guard let value = Self.integer(bytes) else { throw failure("not an integer", at: start) }
            return value
        }

        /// A length-prefixed payload; `.some(nil)` for RESP2's `$-1`.
        private mutating func blob(nullable: Bool) throws(RESPParsingError) -> ByteBuffer?? {
            let start = index
            guard let length = try integerLine() else { return nil }
            if length == -1 && nullable { return .some(nil) }
            guard length >= 0, length <= Int64(limits.maxBulkLength) else {
                throw failure("bulk length \(length) outside 0...\(limits.maxBulkLength)", at: start)
            }
            let count = Int(length)
            guard end - index >= count + 2 else { return nil }
            guard buffer.getInteger(at: index + count, as: UInt8.self) == UInt8(ascii: "\r"),
                buffer.getInteger(at: index + count + 1, as: UInt8.self) == UInt8(ascii: "\n")
            else { throw failure("bulk payload not followed by CRLF", at: index + count) }
            let payload = buffer.getSlice(at: index, length: count)!
            index += count + 2
            return .some(payload)
        }

        private mutating func verbatim() throws(RESPParsingError) -> RESPValue? {
            let start = index
            guard let payload = try blob(nullable: false) else { return nil }
            let text = String(buffer: payload!)
            guard text.utf8.count >= 4, text.utf8.dropFirst(3).first == UInt8(ascii: ":") else {
                throw failure("a verbatim string starts with a format and ':'", at: start)
            }
            return .verbatimString(String(text.dropFirst(4)))
        }

        /// `count` elements (times `perElement`); `.some(nil)` for RESP2's `*-1`.
        private mutating func aggregate(depth: Int, perElement: Int) throws(RESPParsingError) -> [RESPValue]?? {
            let start = index
            guard let declared = try integerLine() else { return nil }
            if declared == -1 && perElement == 1 { return .some(nil) }
            guard declared >= 0, declared <= Int64(limits.maxElements) / Int64(perElement) else {
                throw failure("element count \(declared) outside 0...\(limits.maxElements)", at: start)
            }
            let count = Int(declared) * perElement
            var values: [RESPValue] = []
            values.reserveCapacity(min(count, 1024))
            for _ in 0..<count {
                guard let element = try value(depth: depth + 1) else { return nil }
                values.append(element)
            }
            return .some(values)
        }

        static func integer(_ bytes: ByteBufferView) -> Int64? {
            var iterator = bytes.makeIterator()
            var negative = false
            var value: Int64 = 0
            var digits = 0
            var first = true
            while let c = iterator.next() {
                if first && (c == UInt8(ascii: "-") || c == UInt8(ascii: "+")) {
                    negative = c == UInt8(ascii: "-")
                    first = false
                    continue
                }
                first = false
                guard c >= 48, c <= 57 else { return nil }
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let digit = Int64(c - 48)
                let (next, o2) = negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
                guard !o1, !o2 else { return nil }
                value = next
                digits += 1
            }
            return digits > 0 ? value : nil
        }

        static func double(_ text: String) -> Double? {
            switch text {
            case "inf", "+inf": .infinity
            case "-inf": -.infinity
            case "nan", "-nan": .nan
            default: text.isEmpty || text.contains(where: { $0.isLetter && $0 != "e" && $0 != "E" }) ? nil : Double(text)
            }
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
