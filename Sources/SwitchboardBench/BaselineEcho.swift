import ArgumentParser
import NIOCore
import NIOHTTP1
import NIOPosix

/// A bare SwiftNIO HTTP/1.1 server that answers every request with its own body: the baseline
/// that the server's request rate is measured against, on the same machine in the same run.
struct BaselineEcho: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baseline-echo", abstract: "Run a bare SwiftNIO echo server (a benchmark baseline).", shouldDisplay: false)

    @Option var host = "127.0.0.1"
    @Option var port = 8081

    func run() async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .bind(host: host, port: port).get()
        print("baseline echo server on \(host):\(port)")
        try await channel.closeFuture.get()
    }
}

final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var body: ByteBuffer?
    private var keepAlive = true

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            body = context.channel.allocator.buffer(capacity: 0)
        case .body(var chunk):
            body?.writeBuffer(&chunk)
        case .end:
            let content = body ?? context.channel.allocator.buffer(capacity: 0)
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/json")
            headers.add(name: "content-length", value: String(content.readableBytes))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(content))), promise: nil)
            let keepAlive = keepAlive
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }
}
