import NIOCore
import NIOHTTPTypes

/// Cuts off a request whose body does not arrive whole within `limit` of its head (a body
/// dribbled a byte at a time, slowloris-style): the connection is closed, the handler's body
/// read fails, and nothing the request asked for happens. Each body part would otherwise keep
/// resetting the idle timeout; a head dribbled slowly is bounded by the idle timeout itself,
/// since no part reaches the server until the head is whole.
///
/// The timer is armed only for a request still incomplete when a read ends: most requests
/// arrive whole in one read and never schedule one (a timer per request cost the single-task
/// enqueue a measurable share, BENCHMARKS.md).
final class RequestBodyDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let limit: TimeAmount
    /// When the head of the request being read arrived; nil between requests.
    private var headArrived: NIODeadline?
    private var timer: Scheduled<Void>?

    init(limit: TimeAmount) {
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            headArrived = .now()
        case .body:
            break
        case .end:
            headArrived = nil
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let headArrived, timer == nil {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(deadline: headArrived + limit) {
                loopBound.value.close(promise: nil)
            }
        }
        context.fireChannelReadComplete()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }
}
