import NIOCore
import Synchronization

extension JetStream {
    /// What following a stream delivers.
    public enum FollowEvent: Sendable {
        /// The next stored message, in stream order, and how many more were stored after it.
        case message(StoredMessage, pending: UInt64)
        /// Every message stored when this consumer started has been delivered.
        case caughtUp
        /// The consumer was made again (after a gap, a stall or a reconnect); delivery goes on
        /// from the message after the last one delivered.
        case restarted
    }

    /// Where a consumed message sits, read from its ack subject
    /// (`$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>`, with
    /// a domain and account hash in front in newer servers).
    public static func position(of message: NATSMessage) -> (streamSequence: UInt64, consumerSequence: UInt64, pending: UInt64)? {
        guard let tokens = message.replyTo?.split(separator: "."), tokens.count == 9 || tokens.count >= 11,
            tokens[0] == "$JS", tokens[1] == "ACK"
        else { return nil }
        let delivered = tokens.count == 9 ? 4 : 6
        guard let stream = UInt64(tokens[delivered + 1]), let consumer = UInt64(tokens[delivered + 2]),
            let pending = UInt64(tokens[delivered + 4])
        else { return nil }
        return (stream, consumer, pending)
    }

    private struct Stalled: Error {}

    /// What `handle` threw, passed on as it is rather than taken for a broken consumer.
    private struct HandlerError: Error {
        var underlying: any Error
    }

    /// Delivers every message of `stream` from sequence `start` on, in order and without gaps,
    /// until cancelled or `handle` throws: an ordered consumer (an ephemeral push consumer without
    /// acks, with flow control and idle heartbeats) that is made again from the next sequence
    /// whenever its consumer sequence skips (messages lost on a reconnect) or it falls silent for
    /// three heartbeats (its server went away).
    public func follow(
        stream: String, from start: UInt64 = 1, idleHeartbeat: Duration = .seconds(1),
        _ handle: @escaping @Sendable (FollowEvent) async throws -> Void
    ) async throws {
        var next = max(start, 1)
        var first = true
        while !Task.isCancelled {
            if !first { try await handle(.restarted) }
            first = false
            do {
                next = try await followOnce(stream: stream, from: next, idleHeartbeat: idleHeartbeat) { event in
                    do {
                        try await handle(event)
                    } catch {
                        throw HandlerError(underlying: error)
                    }
                }
            } catch let error as HandlerError {
                throw error.underlying
            } catch is CancellationError {
                return
            } catch let error as JetStreamError where error.errorCode == JetStreamError.streamNotFound {
                throw error
            } catch {
                if Task.isCancelled { return }
                // The server may be restarting: wait a heartbeat before asking again.
                try? await Task.sleep(for: idleHeartbeat)
            }
        }
    }

    /// One consumer's life; returns the sequence to go on from.
    private func followOnce(
        stream: String, from start: UInt64, idleHeartbeat: Duration, _ handle: @escaping @Sendable (FollowEvent) async throws -> Void
    ) async throws -> UInt64 {
        let token = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let inbox = "_SB_FOLLOW.\(token)"
        let name = "sbfollow\(token)"
        let messages = try await client.subscribe(inbox)
        let heartbeatNanos = idleHeartbeat.wholeMilliseconds * 1_000_000
        var config: [String: Any] = [
            "name": name, "deliver_subject": inbox, "ack_policy": "none", "flow_control": true, "idle_heartbeat": heartbeatNanos,
            "mem_storage": true, "num_replicas": 1, "inactive_threshold": heartbeatNanos * 30, "replay_policy": "instant",
        ]
        if start <= 1 {
            config["deliver_policy"] = "all"
        } else {
            config["deliver_policy"] = "by_start_sequence"
            config["opt_start_seq"] = start
        }
        let created = try await call("CONSUMER.CREATE.\(stream).\(name)", body: ["stream_name": stream, "config": config])
        defer { Task { [self] in try? await deleteConsumer(stream: stream, name: name) } }
        if ((created["num_pending"] as? Int) ?? 0) == 0 { try await handle(.caughtUp) }

        let activity = FollowProgress(next: start)
        return try await withThrowingTaskGroup(of: UInt64?.self) { group in
            group.addTask { [client] in
                var next = start
                var consumerSequence: UInt64 = 0
                var caughtUp = false
                for await message in messages {
                    activity.touch()
                    if message.status == 100 {
                        // Flow control asks for an answer; a heartbeat tells the last consumer
                        // sequence sent, and may carry a stalled consumer's subject to answer.
                        if let reply = message.replyTo, !reply.isEmpty { try await client.publish(reply, payload: ByteBuffer()) }
                        if let stalled = message.headers?["Nats-Consumer-Stalled"] { try await client.publish(stalled, payload: ByteBuffer()) }
                        if let last = message.headers?["Nats-Last-Consumer"].flatMap(UInt64.init), last != consumerSequence { return next }
                        continue
                    }
                    guard let position = Self.position(of: message) else { continue }
                    guard position.consumerSequence == consumerSequence + 1 else { return next }
                    consumerSequence = position.consumerSequence
                    let stored = StoredMessage(subject: message.subject, sequence: position.streamSequence, headers: message.headers, payload: message.payload)
                    try await handle(.message(stored, pending: position.pending))
                    next = position.streamSequence + 1
                    activity.advance(to: next)
                    if position.pending == 0, !caughtUp {
                        caughtUp = true
                        try await handle(.caughtUp)
                    }
                }
                return next
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: idleHeartbeat)
                    if activity.silence > idleHeartbeat * 3 { throw Stalled() }
                }
            }
            defer { group.cancelAll() }
            do {
                guard let next = try await group.next() ?? nil else { return start }
                return next
            } catch is Stalled {
                return activity.next
            }
        }
    }
}

/// When a follower last heard from its consumer (on the monotonic clock) and where it got to.
private final class FollowProgress: Sendable {
    private let state: Mutex<(heard: ContinuousClock.Instant, next: UInt64)>

    init(next: UInt64) { state = Mutex((.now, next)) }

    func touch() { state.withLock { $0.heard = .now } }

    func advance(to next: UInt64) { state.withLock { $0.next = next } }

    var next: UInt64 { state.withLock { $0.next } }

    var silence: Duration { ContinuousClock.now - state.withLock { $0.heard } }
}
