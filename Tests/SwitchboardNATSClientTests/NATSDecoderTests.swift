import NIOCore
import NIOEmbedded
@testable import SwitchboardNATSClient
import SwitchboardTesting
import Testing

@Suite("NATS protocol decoder")
struct NATSDecoderTests {
    func decodeAll(_ text: String, limits: NATSLimits = NATSLimits()) throws -> [NATSServerOperation] {
        var decoder = NATSDecoder(limits: limits)
        var buffer = ByteBuffer(string: text)
        var operations: [NATSServerOperation] = []
        while let operation = try decoder.decode(buffer: &buffer) { operations.append(operation) }
        #expect(buffer.readableBytes == 0, "everything consumed")
        return operations
    }

    func message(_ operation: NATSServerOperation?) -> NATSMessage? {
        if case .message(let message) = operation { return message }
        return nil
    }

    static let stream =
        "INFO {\"server_id\":\"S1\",\"version\":\"2.15.1\",\"max_payload\":1048576,\"headers\":true}\r\n"
        + "PING\r\npong\r\n+OK\r\n-ERR 'Permissions Violation for Publish to \"x\"'\r\n"
        + "MSG a.b 1 5\r\nhello\r\n"
        + "msg\ta.b\t2\treply.to\t0\r\n\r\n"
        + "HMSG c 3 _INBOX.x.1 36 41\r\nNATS/1.0 503 No Responders\r\nA: 1\r\n\r\nworld\r\n"
        + "HMSG d 4 22 22\r\nNATS/1.0\r\nK:  v w \r\n\r\n\r\n"

    @Test("every operation of the server, case-insensitive, with tabs or spaces")
    func everyOperation() throws {
        let ops = try decodeAll(Self.stream)
        #expect(ops.count == 9)
        guard case .info(let json) = ops[0] else { Issue.record("INFO"); return }
        let info = try NATSServerInfo(json: json)
        #expect(info.serverID == "S1" && info.maxPayload == 1_048_576 && info.headers == true && info.isAtLeast(major: 2, minor: 11))
        #expect(ops[1] == .ping && ops[2] == .pong && ops[3] == .ok)
        #expect(ops[4] == .error("Permissions Violation for Publish to \"x\""))
        let plain = try #require(message(ops[5]))
        #expect(plain.subject == "a.b" && plain.subscriptionID == "1" && plain.replyTo == nil && plain.headers == nil)
        #expect(String(buffer: plain.payload) == "hello")
        let empty = try #require(message(ops[6]))
        #expect(empty.replyTo == "reply.to" && empty.payload.readableBytes == 0)
        let status = try #require(message(ops[7]))
        #expect(status.status == 503 && status.headers?.statusDescription == "No Responders" && status.headers?["a"] == "1")
        #expect(status.replyTo == "_INBOX.x.1" && String(buffer: status.payload) == "world")
        let headed = try #require(message(ops[8]))
        #expect(headed.status == nil && headed.headers?["K"] == "v w" && headed.payload.readableBytes == 0)
    }

    @Test("split at every byte, the same operations come out, each once it is whole")
    func everySplit() throws {
        let whole = try decodeAll(Self.stream)
        let bytes = Array(Self.stream.utf8)
        for cut in 1..<bytes.count {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(NATSDecoder()))
            try channel.writeInbound(ByteBuffer(bytes: bytes[..<cut]))
            try channel.writeInbound(ByteBuffer(bytes: bytes[cut...]))
            var out: [NATSServerOperation] = []
            while let op = try channel.readInbound(as: NATSServerOperation.self) { out.append(op) }
            #expect(out == whole, "split at \(cut)")
            _ = try channel.finish()
        }
    }

    @Test("malformed input is an error naming what is wrong; nothing half-read is returned")
    func malformed() throws {
        let cases: [(String, String)] = [
            ("NOPE\r\n", "unknown operation"),
            ("PING x\r\n", "takes no arguments"),
            ("MSG a 1\r\n", "needs subject"),
            ("MSG a 1 x\r\nhello\r\n", "not a number"),
            ("MSG a 1 -5\r\n", "not a number"),
            ("MSG a 1 2\r\nhello\r\n", "not followed by CRLF"),
            ("HMSG a 1 9 4\r\nNATS/1.0\r\n\r\n", "within the total"),
            ("HMSG a 1 12 12\r\nHTTP/1.1\r\n\r\n\r\n", "NATS/1.0"),
            ("HMSG a 1 14 14\r\nNATS/1.0 5\r\n\r\n\r\n", "three-digit"),
            ("HMSG a 1 21 21\r\nNATS/1.0\r\nnocolon\r\n\r\n\r\n", "without a name"),
            ("PING\n", "without carriage return"),
            ("INFO nope\r\n", "JSON object"),
        ]
        for (input, reason) in cases {
            var decoder = NATSDecoder()
            var buffer = ByteBuffer(string: input)
            #expect(throws: NATSParsingError.self, "\(input.debugDescription)") { _ = try decoder.decode(buffer: &buffer) }
            do {
                var buffer = ByteBuffer(string: input)
                _ = try decoder.decode(buffer: &buffer)
            } catch let error as NATSParsingError {
                #expect(error.reason.contains(reason), "\(input.debugDescription): \(error.reason)")
            }
        }
    }

    @Test("limits: a control line, a payload and a header block over their bounds are refused before they are buffered whole")
    func limits() throws {
        var limits = NATSLimits()
        limits.maxControlLine = 64
        limits.maxPayload = 20
        limits.maxHeaderBytes = 12
        for (input, reason) in [
            ("MSG " + String(repeating: "a", count: 100), "control line longer"),
            ("MSG a 1 21\r\n", "over the limit"),
            ("HMSG a 1 13 13\r\n", "header block of 13 bytes"),
        ] {
            var decoder = NATSDecoder(limits: limits)
            var buffer = ByteBuffer(string: input)
            do {
                _ = try decoder.decode(buffer: &buffer)
                Issue.record("accepted \(input.prefix(20))")
            } catch let error as NATSParsingError {
                #expect(error.reason.contains(reason), "\(error.reason)")
            }
        }
        // Incomplete but within bounds: wait for more.
        var decoder = NATSDecoder(limits: limits)
        var buffer = ByteBuffer(string: "MSG a 1 10\r\n01234")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 17, "nothing consumed")
    }

    @Test("random input never crashes the decoder: it decodes, waits or throws")
    func randomInput() {
        var rng = SeededRandom()
        print("NATS decoder fuzz, \(rng)")
        let alphabet = Array("MSGHPINOKERRINFO+- \t\r\n0123456789.abc{}NATS/1.0:'".utf8)
        for _ in 0..<20_000 {
            let count = Int.random(in: 0..<48, using: &rng)
            var buffer = ByteBuffer(bytes: (0..<count).map { _ in alphabet.randomElement(using: &rng)! })
            var decoder = NATSDecoder()
            while true {
                let before = buffer.readerIndex
                guard case .some(.some) = try? decoder.decode(buffer: &buffer) else { break }
                #expect(buffer.readerIndex > before, "\(rng): progress on every operation")
            }
        }
    }
}
