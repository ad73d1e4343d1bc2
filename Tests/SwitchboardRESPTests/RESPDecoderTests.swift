import NIOCore
@testable import SwitchboardRESP
import SwitchboardTesting
import Testing

@Suite("RESP decoder")
struct RESPDecoderTests {
    func decodeAll(_ text: String, limits: RESPLimits = RESPLimits()) throws -> [RESPValue] {
        var decoder = RESPDecoder(limits: limits)
        var buffer = ByteBuffer(string: text)
        var values: [RESPValue] = []
        while let value = try decoder.decode(buffer: &buffer) { values.append(value) }
        #expect(buffer.readableBytes == 0, "everything was consumed")
        return values
    }

    @Test("every RESP2 and RESP3 type", arguments: [
        ("+OK\r\n", RESPValue.simpleString("OK")),
        ("-ERR bad thing\r\n", .error("ERR bad thing")),
        (":-42\r\n", .integer(-42)),
        (":+7\r\n", .integer(7)),
        ("$5\r\nhello\r\n", .bulkString(ByteBuffer(string: "hello"))),
        ("$0\r\n\r\n", .bulkString(ByteBuffer())),
        ("$-1\r\n", .null),
        ("*-1\r\n", .null),
        ("_\r\n", .null),
        ("*2\r\n:1\r\n$1\r\na\r\n", .array([.integer(1), .bulkString(ByteBuffer(string: "a"))])),
        ("*0\r\n", .array([])),
        ("#t\r\n", .boolean(true)),
        ("#f\r\n", .boolean(false)),
        (",3.25\r\n", .double(3.25)),
        (",-inf\r\n", .double(-.infinity)),
        (",1e3\r\n", .double(1000)),
        ("(3492890328409238509324850943850943825024385\r\n", .bigNumber("3492890328409238509324850943850943825024385")),
        ("!21\r\nSYNTAX invalid syntax\r\n", .error("SYNTAX invalid syntax")),
        ("=15\r\ntxt:Some string\r\n", .verbatimString("Some string")),
        ("%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n", .map([.simpleString("a"), .simpleString("b")], [.integer(1), .integer(2)])),
        ("~2\r\n:1\r\n:2\r\n", .set([.integer(1), .integer(2)])),
        (">2\r\n+message\r\n+hi\r\n", .push([.simpleString("message"), .simpleString("hi")])),
        ("|1\r\n+ttl\r\n:3600\r\n+value\r\n", .simpleString("value")),
        ("*1\r\n*1\r\n*0\r\n", .array([.array([.array([])])])),
    ])
    func types(_ text: String, _ expected: RESPValue) throws {
        #expect(try decodeAll(text) == [expected])
    }

    @Test("a value split anywhere waits for the rest and leaves the buffer untouched")
    func partialFrames() throws {
        let first = "*3\r\n$5\r\nhello\r\n%1\r\n+k\r\n#t\r\n:12345\r\n"
        let bytes = Array((first + "+next\r\n").utf8)
        for split in 1..<bytes.count {
            var decoder = RESPDecoder()
            var buffer = ByteBuffer(bytes: bytes[..<split])
            var values: [RESPValue] = []
            while let value = try decoder.decode(buffer: &buffer) { values.append(value) }
            let consumedBefore = buffer.readerIndex
            buffer.writeBytes(bytes[split...])
            while let value = try decoder.decode(buffer: &buffer) { values.append(value) }
            #expect(values.count == 2, "split at \(split)")
            #expect(values.last == .simpleString("next"))
            let expected = split < first.utf8.count ? 0 : first.utf8.count
            #expect(consumedBefore == expected, "a partial value consumes nothing (split \(split))")
        }
    }

    @Test("malformed input is refused precisely", arguments: [
        ("?x\r\n", "unknown type"),
        (":12a\r\n", "not an integer"),
        (":99999999999999999999\r\n", "not an integer"),
        ("$3\r\nabcd\r\n", "CRLF"),
        ("$-2\r\n", "bulk length"),
        ("*-2\r\n", "element count"),
        ("#x\r\n", "boolean"),
        (",abc\r\n", "double"),
        ("_x\r\n", "null"),
        ("+a\rb\r\n", "LF"),
        ("=3\r\nabc\r\n", "verbatim"),
        ("(12a\r\n", "big number"),
    ])
    func malformed(_ text: String, _ reason: String) {
        do {
            _ = try decodeAll(text)
            Issue.record("accepted \(text.debugDescription)")
        } catch let error as RESPParsingError {
            #expect(error.reason.contains(reason), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("limits on depth, bulk length, element count and line length")
    func limits() throws {
        var limits = RESPLimits()
        limits.maxDepth = 3
        limits.maxBulkLength = 10
        limits.maxElements = 4
        limits.maxLineLength = 8
        #expect(throws: RESPParsingError.self) { try decodeAll("*1\r\n*1\r\n*1\r\n*1\r\n*0\r\n", limits: limits) }
        #expect(try decodeAll("*1\r\n*1\r\n*1\r\n*0\r\n", limits: limits).count == 1)
        #expect(throws: RESPParsingError.self) { try decodeAll("$11\r\n", limits: limits) }
        #expect(throws: RESPParsingError.self) { try decodeAll("*5\r\n", limits: limits) }
        #expect(throws: RESPParsingError.self) { try decodeAll("%3\r\n", limits: limits) }
        #expect(throws: RESPParsingError.self) { try decodeAll("+123456789012", limits: limits) }
    }

    @Test("random bytes never crash the decoder")
    func fuzz() {
        var rng = SeededRandom()
        // A crash would say nothing else: the seed goes first.
        print("RESP decoder fuzz, \(rng)")
        let alphabet = Array("+-:$*_#,(!=%~>|\r\n0123456789-abc".utf8)
        for _ in 0..<20_000 {
            let count = Int.random(in: 1...48, using: &rng)
            let bytes = (0..<count).map { _ in
                Bool.random(using: &rng) ? alphabet.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
            }
            var decoder = RESPDecoder()
            var buffer = ByteBuffer(bytes: bytes)
            while let value = try? decoder.decode(buffer: &buffer) {
                _ = value
                if buffer.readableBytes == 0 { break }
            }
        }
    }

    @Test("commands are written as arrays of bulk strings")
    func encoder() {
        var buffer = ByteBuffer()
        RESPCommand("SET", "key", "välue", 42).encode(into: &buffer)
        #expect(String(buffer: buffer) == "*4\r\n$3\r\nSET\r\n$3\r\nkey\r\n$6\r\nvälue\r\n$2\r\n42\r\n")
        #expect(RESPCommand("AUTH", "secret").description == "AUTH", "arguments never reach logs")
    }

    @Test("numbers and bytes are written as the server reads them, every digit and sign")
    func numbers() {
        let values: [any RESPArgument] = [0, 7, 10, -15, Int64.min, Int64.max, UInt64.max, [UInt8](), [0, 13, 10], Substring("ab")]
        let expected = ["0", "7", "10", "-15", "\(Int64.min)", "\(Int64.max)", "\(UInt64.max)", "", "\0\r\n", "ab"]
        var buffer = ByteBuffer()
        RESPCommand("X", values).encode(into: &buffer)
        var text = "*\(values.count + 1)\r\n$1\r\nX\r\n"
        for e in expected { text += "$\(e.utf8.count)\r\n\(e)\r\n" }
        #expect(String(buffer: buffer) == text)
        for n in [1, 9, 99, 100, 12_345, 1_800_000_000_000] {
            var one = ByteBuffer()
            RESPCommand("N", [n]).encode(into: &one)
            #expect(String(buffer: one) == "*2\r\n$1\r\nN\r\n$\(String(n).count)\r\n\(n)\r\n")
        }
    }
}

@Suite("Redis URLs")
struct RedisURLTests {
    @Test("parse", arguments: [
        ("redis://127.0.0.1:6379/0", RedisURL(host: "127.0.0.1", port: 6379)),
        ("redis://localhost", RedisURL(host: "localhost")),
        ("redis://:p%40ss@h:7000/3", RedisURL(host: "h", port: 7000, password: "p@ss", database: 3)),
        ("redis://app:secret@h/1", RedisURL(host: "h", user: "app", password: "secret", database: 1)),
        ("rediss://[::1]:6380", RedisURL(host: "::1", port: 6380, tls: true)),
    ])
    func parse(_ text: String, _ expected: RedisURL) throws {
        #expect(try RedisURL(text) == expected)
    }

    @Test("refuse", arguments: ["http://x", "redis://", "redis://h:0", "redis://h:abc", "redis://h/x", "redis://[::1", "redis://:%zz@h"])
    func refuse(_ text: String) {
        #expect(throws: RedisURLError.self) { try RedisURL(text) }
    }

    @Test("the description hides the password")
    func description() throws {
        #expect(try RedisURL("redis://app:secret@h:1/2").description == "redis://app:***@h:1/2")
    }
}
