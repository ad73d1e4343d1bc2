import NIOCore

/// Hands what the server sends to its connection, answers the server's PINGs, and reports the
/// channel's end.
final class NATSConnectionHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = NATSServerOperation
    typealias OutboundOut = ByteBuffer

    let connection: NATSConnection

    init(connection: NATSConnection) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.heard()
        switch unwrapInboundIn(data) {
        case .message(let message):
            connection.deliver(message)
        case .ping:
            var buffer = context.channel.allocator.buffer(capacity: 6)
            NATSClientOperation.pong.write(to: &buffer)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        case .pong:
            connection.receivedPong()
        case .info(let json):
            connection.received(info: json)
        case .ok:
            break
        case .error(let text):
            if connection.receivedError(text) { context.close(promise: nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.ended(.closed("the server closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.ended(.closed("\(error)"))
        context.close(promise: nil)
    }
}
