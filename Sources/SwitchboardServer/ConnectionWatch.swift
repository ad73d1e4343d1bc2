import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import SwitchboardCore
import Synchronization

/// Notices a client going away while its request is still being answered: the end of its input
/// (a closed or killed client) or of the connection. A long-poll lease uses it to stop waiting,
/// and to give back tasks it leased in the instant the client vanished, instead of handing them
/// to nobody (where they would sit out their lease and use up an attempt).
///
/// Hummingbird's `RequestBody.consumeWithInboundCloseHandler` does this for one request, but
/// closes the connection when that request's response ends: every long-poll would then cost a
/// worker a new connection (and a TLS handshake). This handler watches without taking the
/// connection's keep-alive away.
final class ConnectionWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private var gone: EventLoopPromise<Void>?
    private var isGone = false

    /// Completes when the client's side of the connection ends.
    func clientGone(on loop: any EventLoop) -> EventLoopFuture<Void> {
        if gone == nil { gone = loop.makePromise() }
        return gone!.futureResult
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if gone == nil { gone = context.eventLoop.makePromise() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let channelEvent = event as? ChannelEvent, case .inputClosed = channelEvent { markGone() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        markGone()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        markGone()
    }

    private func markGone() {
        guard !isGone else { return }
        isGone = true
        gone?.succeed()
    }

    /// Returns when the client of `channel` is gone, or when the calling task is cancelled;
    /// only on cancellation when the pipeline has no watch.
    static func clientGone(of channel: any Channel) async {
        let future = channel.pipeline.handler(type: ConnectionWatch.self).flatMap { watch in
            watch.clientGone(on: channel.eventLoop)
        }
        let gone = Latch()
        future.whenSuccess { gone.open() }
        await gone.wait()
    }

    /// Whether the client of `channel` has gone by now; false when the pipeline has no watch
    /// (a test channel), since nothing tells.
    static func hasClientGone(_ channel: any Channel) async -> Bool {
        (try? await channel.pipeline.handler(type: ConnectionWatch.self).map { $0.isGone }.get()) ?? false
    }
}
