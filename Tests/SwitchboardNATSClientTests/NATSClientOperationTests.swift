import NIOCore
@testable import SwitchboardNATSClient
import Testing

@Suite("NATS client operations and URLs")
struct NATSClientOperationTests {
    func bytes(_ operation: NATSClientOperation) -> String {
        var buffer = ByteBuffer()
        operation.write(to: &buffer)
        return String(buffer: buffer)
    }

    @Test("each operation's bytes")
    func wire() {
        #expect(bytes(.publish(subject: "a.b", replyTo: nil, headers: nil, payload: ByteBuffer(string: "hi"))) == "PUB a.b 2\r\nhi\r\n")
        #expect(bytes(.publish(subject: "a", replyTo: "r.1", headers: nil, payload: ByteBuffer())) == "PUB a r.1 0\r\n\r\n")
        let headers = NATSHeaders([("Nats-Msg-Id", "42")])
        #expect(
            bytes(.publish(subject: "a", replyTo: nil, headers: headers, payload: ByteBuffer(string: "x")))
                == "HPUB a 29 30\r\nNATS/1.0\r\nNats-Msg-Id: 42\r\n\r\nx\r\n")
        #expect(bytes(.subscribe(subject: "a.*", queueGroup: "q", subscriptionID: "7")) == "SUB a.* q 7\r\n")
        #expect(bytes(.subscribe(subject: "a.>", queueGroup: nil, subscriptionID: "8")) == "SUB a.> 8\r\n")
        #expect(bytes(.unsubscribe(subscriptionID: "7", after: 3)) == "UNSUB 7 3\r\n")
        #expect(bytes(.unsubscribe(subscriptionID: "7", after: nil)) == "UNSUB 7\r\n")
        #expect(bytes(.ping) == "PING\r\n" && bytes(.pong) == "PONG\r\n")
        #expect(bytes(.connect("{}")) == "CONNECT {}\r\n")
    }

    @Test("subjects, names and headers that would confuse the server are refused before sending")
    func validation() {
        let payload = ByteBuffer()
        let refused: [NATSClientOperation] = [
            .publish(subject: "", replyTo: nil, headers: nil, payload: payload),
            .publish(subject: "a b", replyTo: nil, headers: nil, payload: payload),
            .publish(subject: "a..b", replyTo: nil, headers: nil, payload: payload),
            .publish(subject: "a.*", replyTo: nil, headers: nil, payload: payload),
            .publish(subject: "a", replyTo: "r >", headers: nil, payload: payload),
            .publish(subject: "a", replyTo: nil, headers: NATSHeaders([("Bad:Name", "v")]), payload: payload),
            .publish(subject: "a", replyTo: nil, headers: NATSHeaders([("Name", "line\r\nbreak")]), payload: payload),
            .subscribe(subject: "a.>.b", queueGroup: nil, subscriptionID: "1"),
            .subscribe(subject: "a.b*", queueGroup: nil, subscriptionID: "1"),
            .subscribe(subject: "a", queueGroup: "q q", subscriptionID: "1"),
            .subscribe(subject: "a", queueGroup: nil, subscriptionID: ""),
            .unsubscribe(subscriptionID: "1", after: -1),
            .connect("{\r\n}"),
        ]
        for operation in refused {
            #expect(throws: NATSUsageError.self, "\(operation)") { try operation.validate() }
        }
        #expect(throws: Never.self) { try NATSClientOperation.subscribe(subject: "a.*.>", queueGroup: "q", subscriptionID: "1").validate() }
    }

    @Test("URLs: one or several servers, credentials or a token, TLS; the description hides secrets")
    func urls() throws {
        let plain = try NATSURL("nats://127.0.0.1")
        #expect(plain.servers == [.init(host: "127.0.0.1", port: 4222)] && !plain.tls && plain.token == nil)
        let cluster = try NATSURL("tls://alice:p%40ss@a:4223,b:4224,[::1]:4225")
        #expect(cluster.tls && cluster.user == "alice" && cluster.password == "p@ss")
        #expect(cluster.servers.map(\.port) == [4223, 4224, 4225] && cluster.servers[2].host == "::1")
        #expect(cluster.description == "tls://alice:***@a:4223,b:4224,[::1]:4225")
        let token = try NATSURL("nats://s3cret@localhost:4222/")
        #expect(token.token == "s3cret" && token.description == "nats://***@localhost:4222")
        for bad in ["http://a", "nats://", "nats://a:0", "nats://a:x", "nats://@a", "nats://a,,b"] {
            #expect(throws: NATSURLError.self, "\(bad)") { try NATSURL(bad) }
        }
    }

    @Test("CONNECT options: headers and no_responders on, credentials JSON-escaped")
    func connectOptions() throws {
        let info = try NATSServerInfo(json: ByteBuffer(string: #"{"server_id":"S","version":"2.15.1","max_payload":1024}"#))
        var options = NATSConnectOptions()
        options.name = "sb \"1\""
        let json = try NATSConnection.connectOptions(url: try NATSURL("nats://u:p%22w@h"), options: options, info: info)
        #expect(json.contains(#""headers":true"#) && json.contains(#""no_responders":true"#) && json.contains(#""verbose":false"#))
        #expect(json.contains(#""user":"u""#) && json.contains(#""pass":"p\"w""#) && json.contains(#""name":"sb \"1\"""#))
    }
}
