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
    var commands: [RESPCommand]
    var promises: [EventLoopPromise<RESPValue>]
    /// Counted from when the command is written, on the channel's own clock.
    var timeout: TimeAmount?
}

/// Pipelining: commands are written as they come, their promises wait in order, and each reply
/// completes the oldest promise. When the channel closes, every waiting promise fails.
final class RESPCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RESPRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var promise: EventLoopPromise<RESPValue>
        var timeout: Scheduled<Void>?
    }

    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    private let onPush: @Sendable (RESPValue) -> Void
    private var context: ChannelHandlerContext?

    init(onPush: @escaping @Sendable (RESPValue) -> Void) {
        self.onPush = onPush
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(.closed)
        self.context = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        guard context.channel.isActive else {
            for p in request.promises { p.fail(RESPConnectionError.closed) }
            promise?.fail(RESPConnectionError.closed)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 64 * request.commands.count)
        for command in request.commands { command.encode(into: &buffer) }
        for p in request.promises {
            var timeout: Scheduled<Void>?
            if let limit = request.timeout {
                timeout = context.eventLoop.assumeIsolated().scheduleTask(in: limit) { [weak self] in
                    self?.timedOut(p)
                }
            }
            pending.append(Pending(promise: p, timeout: timeout))
        }
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        if case .push = value {
            onPush(value)
            return
        }
        guard let next = pending.popFirst() else {
            context.fireErrorCaught(RESPConnectionError.unexpectedReply)
            context.close(promise: nil)
            return
        }
        next.timeout?.cancel()
        next.promise.succeed(value)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(.closed)
        context.close(promise: nil)
    }

    private func timedOut(_ promise: EventLoopPromise<RESPValue>) {
        guard pending.contains(where: { $0.promise.futureResult === promise.futureResult }) else { return }
        failAll(.closed, except: promise)
        promise.fail(RESPConnectionError.timeout)
        context?.close(promise: nil)
    }

    private func failAll(_ error: RESPConnectionError, except exception: EventLoopPromise<RESPValue>? = nil) {
        let waiting = pending
        pending.removeAll()
        for entry in waiting {
            entry.timeout?.cancel()
            if let exception, entry.promise.futureResult === exception.futureResult { continue }
            entry.promise.fail(error)
        }
    }
}
