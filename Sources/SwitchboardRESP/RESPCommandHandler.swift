import NIOCore

/// What can go wrong with a connection, as opposed to an error reply from the server.
public enum RESPConnectionError: Error, Sendable, Hashable {
    /// The connection closed (or failed) before the reply came.
    case closed
    /// No reply within the command's deadline; the connection is closed, since later replies
    /// could no longer be matched to their commands.
    case timeout
    /// The server sent a reply nobody asked for.
    case unexpectedReply
}

/// An error reply: `ERR …`, `NOSCRIPT …`, `WRONGTYPE …`.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    /// The first word of the message, by Redis convention the error's kind.
    public var code: Substring { message.prefix { $0 != " " } }

    public var description: String { message }
}

/// Commands going out, each with the promise of its reply.
struct RESPRequest {
    /// Names the request for a later `RESPCancel`.
    var id: UInt64
    var commands: [RESPCommand]
    var promises: [EventLoopPromise<RESPValue>]
    /// Counted from when the command is written, on the channel's own clock.
    var timeout: TimeAmount?
}

/// An outbound user event: the caller of request `id` was cancelled.
struct RESPCancel {
    var id: UInt64
}

/// Pipelining: commands are written as they come, their promises wait in order, and each reply
/// completes the oldest. The bookkeeping is `RESPConnectionStateMachine`'s; this handler feeds it
/// channel events and carries out its actions.
final class RESPCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RESPRequest
    typealias OutboundOut = ByteBuffer

    private var stateMachine = RESPConnectionStateMachine<EventLoopPromise<RESPValue>>()
    /// The connection's one deadline timer.
    private var timer: Scheduled<Void>?
    private let onPush: @Sendable (RESPValue) -> Void

    init(onPush: @escaping @Sendable (RESPValue) -> Void) {
        self.onPush = onPush
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        closeDown()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        guard context.channel.isActive else {
            closeDown()
            fail(request.promises, .closed)
            promise?.fail(RESPConnectionError.closed)
            return
        }
        let deadline = request.timeout.map { context.eventLoop.now + $0 }
        switch stateMachine.write(request: request.id, promises: request.promises, deadline: deadline) {
        case .failClosed(let promises):
            fail(promises, .closed)
            promise?.fail(RESPConnectionError.closed)
        case .write(let armTimer):
            if let armTimer { arm(at: armTimer, context: context) }
            var buffer = context.channel.allocator.buffer(capacity: 64 * request.commands.count)
            for command in request.commands { command.encode(into: &buffer) }
            context.write(wrapOutboundOut(buffer), promise: promise)
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let cancel = event as? RESPCancel else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        for waiting in stateMachine.cancel(request: cancel.id) { waiting.fail(CancellationError()) }
        promise?.succeed()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        if case .push = value {
            onPush(value)
            return
        }
        switch stateMachine.reply() {
        case .succeed(let promise):
            promise.succeed(value)
        case .discard:
            break
        case .failAndClose(let promises):
            fail(promises, .closed)
            timer?.cancel()
            timer = nil
            context.fireErrorCaught(RESPConnectionError.unexpectedReply)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeDown()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closeDown()
        context.close(promise: nil)
    }

    /// Fails whatever still waits and stops the timer.
    private func closeDown() {
        fail(stateMachine.closed(), .closed)
        timer?.cancel()
        timer = nil
    }

    private func arm(at deadline: NIODeadline, context: ChannelHandlerContext) {
        timer?.cancel()
        let context = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.value.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timerFired(context: context.value)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        timer = nil
        switch stateMachine.timerFired(now: context.eventLoop.now) {
        case .none:
            break
        case .rearm(let deadline):
            arm(at: deadline, context: context)
        case .timeOut(let expired, let others):
            fail(expired, .timeout)
            fail(others, .closed)
            context.close(promise: nil)
        }
    }

    private func fail(_ promises: [EventLoopPromise<RESPValue>], _ error: RESPConnectionError) {
        for promise in promises { promise.fail(error) }
    }
}
