import Foundation
import NIOCore
import SwitchboardCore
import SwitchboardJSON
import SwitchboardNATSClient
import Synchronization

/// Fires on every write to a lock's key: each wait takes the latch current before it looked.
final class WriteSignal: Sendable {
    private let latch = Mutex(Latch())

    var next: Latch { latch.withLock { $0 } }

    func fire() {
        latch.withLock { current in
            let fired = current
            current = Latch()
            return fired
        }.open()
    }
}

/// Locks in a JetStream KV bucket (`<prefix>_locks`), shared by every server on the NATS system.
///
/// A lock is the last write on its key (the lock key base64url-encoded, as KV keys allow few
/// characters): `{"holder", "token", "ttl_ms"}`. Acquiring is a compare-and-set create; the
/// fencing token is the acquiring write's stream sequence, which strictly increases per key
/// (the stream's sequence only grows). Renewing rewrites the value by compare-and-set on its
/// revision, keeping the token; releasing writes a delete marker the same way.
///
/// Expiry without comparing clocks: each write carries a `Nats-TTL` (rounded up to the server's
/// one-second minimum) after which the server removes it, and a waiter that has seen the same
/// revision stand for the lease's TTL on its own monotonic clock knows the lease lapsed (the write
/// came before it looked) and takes it by compare-and-set on that revision. Waiters are woken by
/// a subscription to the key's subject, where a release's delete marker is published.
public final class NATSLockService: LockService {
    public let client: NATSClient
    public let limits: LockLimits
    public let bucketName: String
    private let jetStream: JetStream
    private let replicas: Int
    private let bucket = Mutex<KeyValueBucket?>(nil)

    public init(client: NATSClient, prefix: String = "sb", replicas: Int = 1, limits: LockLimits = LockLimits()) {
        self.client = client
        self.limits = limits
        self.replicas = replicas
        bucketName = "\(prefix)_locks"
        jetStream = JetStream(client: client)
    }

    /// The bucket, made on first use.
    private func locks() async throws -> KeyValueBucket {
        if let bucket = bucket.withLock({ $0 }) { return bucket }
        let made = try await KeyValueBucket.create(jetStream: jetStream, bucket: bucketName, replicas: replicas, messageTTL: true)
        bucket.withLock { $0 = made }
        return made
    }

    // MARK: The record

    struct Held {
        var holder: String
        var token: UInt64
        var ttl: Duration
        var revision: UInt64
        var storedAt: Timestamp?
    }

    static func value(holder: String, token: UInt64, ttl: Duration) -> ByteBuffer {
        var w = JSONWriter(capacity: 64 + holder.utf8.count)
        w.beginObject()
        w.key("holder"); w.string(holder)
        w.key("token"); w.int(token)
        w.key("ttl_ms"); w.int(ttl.wholeMilliseconds)
        w.endObject()
        return ByteBuffer(bytes: w.bytes)
    }

    /// `Nats-TTL` in whole seconds, at least the server's minimum of one.
    static func ttlHeader(_ ttl: Duration) -> NATSHeaders {
        let seconds = max(1, (ttl.wholeMilliseconds + 999) / 1000)
        return NATSHeaders([("Nats-TTL", "\(seconds)s")])
    }

    /// The key's current holder; nil when free (never held, released, or removed by its TTL).
    private func held(_ key: String, in locks: KeyValueBucket) async throws -> (held: Held?, revision: UInt64) {
        guard let write = try await locks.lastWrite(SubjectToken.encode(key)) else { return (nil, 0) }
        if KeyValueBucket.isDelete(write) { return (nil, write.sequence) }
        guard let reader = try? JSONObjectReader(Array(write.payload.readableBytesView)), let holder = try? reader.string("holder"),
            let token = try? reader.integer("token"), let ttl = try? reader.integer("ttl_ms")
        else { throw SwitchboardError.malformed("lock record of \(key) is not what this server writes") }
        let storedAt = write.storedAt.flatMap { RFC3339.milliseconds(Array($0.utf8)[...]) }.map(Timestamp.init(milliseconds:))
        return (Held(holder: holder, token: token == 0 ? write.sequence : UInt64(token), ttl: .milliseconds(ttl), revision: write.sequence,
                     storedAt: storedAt), write.sequence)
    }

    // MARK: LockService

    public func acquire(key: String, holder: String, ttl: Duration, wait: Duration) async throws -> LockLease? {
        try limits.validate(key: key, holder: holder, ttl: ttl, wait: wait)
        // A wait cancelled anywhere (a server shutting down) ends empty, as on the other backends.
        do {
            return try await acquiring(key: key, holder: holder, ttl: ttl, wait: wait)
        } catch where Task.isCancelled {
            return nil
        }
    }

    private func acquiring(key: String, holder: String, ttl: Duration, wait: Duration) async throws -> LockLease? {
        let locks = try await calling { try await self.locks() }
        let deadline = ContinuousClock.now + wait
        // The revision seen standing, and since when (on this machine's monotonic clock).
        var standing: (revision: UInt64, since: ContinuousClock.Instant)?
        // Writes on the key's subject, once this acquire has to wait.
        var writes: (signal: WriteSignal, pump: Task<Void, Never>)?
        defer { writes?.pump.cancel() }
        while true {
            // Taken before looking, so that a write right after the look still wakes us.
            let written = writes?.signal.next
            let (current, revision) = try await calling { try await self.held(key, in: locks) }
            var takeOver: UInt64?
            if let current {
                if let standing, standing.revision == current.revision, ContinuousClock.now - standing.since >= current.ttl {
                    takeOver = current.revision  // lapsed: its write came before we first saw it
                } else if standing?.revision != current.revision {
                    standing = (current.revision, ContinuousClock.now)
                }
            } else {
                takeOver = revision
            }
            if let expected = takeOver {
                // Counted from before the write: the holder never believes in more than it has.
                let sent = Timestamp.now()
                do {
                    let token = try await calling {
                        try await locks.update(
                            SubjectToken.encode(key), Self.value(holder: holder, token: 0, ttl: ttl), revision: expected, headers: Self.ttlHeader(ttl))
                    }
                    return LockLease(key: key, holder: holder, token: token, expiresAt: sent + ttl)
                } catch let error as JetStreamError where error.errorCode == JetStreamError.wrongLastSequence {
                    continue  // someone else wrote first: look again
                }
            }
            guard ContinuousClock.now < deadline, let current, let since = standing?.since, !Task.isCancelled else { return nil }
            guard let written else {
                // Subscribed before looking again, so that a release in between is not missed.
                let subject = "$KV.\(locks.bucket).\(SubjectToken.encode(key))"
                let stream = try await calling { try await self.client.subscribe(subject) }
                let signal = WriteSignal()
                writes = (signal, Task { for await _ in stream { signal.fire() } })
                continue
            }
            await Self.wait(for: written, until: min(deadline, since + current.ttl))
            if Task.isCancelled { return nil }
        }
    }

    /// Returns on a write to the key, at `until`, or when the calling task is cancelled.
    private static func wait(for written: Latch, until: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await written.wait() }
            group.addTask { try? await Task.sleep(until: until) }
            await group.next()
            group.cancelAll()
        }
    }

    public func renew(key: String, holder: String, token: UInt64, ttl: Duration) async throws -> LockLease {
        try limits.validate(key: key, holder: holder, ttl: ttl)
        let locks = try await calling { try await self.locks() }
        let (current, _) = try await calling { try await self.held(key, in: locks) }
        guard let current, current.holder == holder, current.token == token else {
            throw SwitchboardError.conflict("lock \(key) is not held by \(holder) with token \(token)")
        }
        let sent = Timestamp.now()
        do {
            _ = try await calling {
                try await locks.update(SubjectToken.encode(key), Self.value(holder: holder, token: token, ttl: ttl), revision: current.revision, headers: Self.ttlHeader(ttl))
            }
        } catch let error as JetStreamError where error.errorCode == JetStreamError.wrongLastSequence {
            throw SwitchboardError.conflict("lock \(key) changed hands while it was renewed")
        }
        return LockLease(key: key, holder: holder, token: token, expiresAt: sent + ttl)
    }

    public func release(key: String, holder: String, token: UInt64) async throws {
        try limits.validate(key: key, holder: holder)
        let locks = try await calling { try await self.locks() }
        let (current, _) = try await calling { try await self.held(key, in: locks) }
        guard let current, current.holder == holder, current.token == token else {
            throw SwitchboardError.conflict("lock \(key) is not held by \(holder) with token \(token)")
        }
        do {
            // The delete marker goes too, a second later: a bucket of released locks stays empty.
            _ = try await calling {
                try await locks.delete(SubjectToken.encode(key), revision: current.revision, headers: Self.ttlHeader(.seconds(1)))
            }
        } catch let error as JetStreamError where error.errorCode == JetStreamError.wrongLastSequence {
            throw SwitchboardError.conflict("lock \(key) changed hands while it was released")
        }
    }

    public func lease(key: String) async throws -> LockLease? {
        try limits.validate(key: key, holder: "-")
        let locks = try await calling { try await self.locks() }
        guard let current = try await calling({ try await self.held(key, in: locks) }).held else { return nil }
        // For display: the NATS server's clock when stored, plus the TTL.
        let expiresAt = (current.storedAt ?? Timestamp.now()) + current.ttl
        guard expiresAt > Timestamp.now() else { return nil }
        return LockLease(key: key, holder: current.holder, token: current.token, expiresAt: expiresAt)
    }

    public func leases() async throws -> [LockLease] {
        let locks = try await calling { try await self.locks() }
        let prefix = "$KV.\(locks.bucket)."
        let subjects = try await calling { try await self.jetStream.subjects(stream: locks.stream, filter: prefix + ">") }
        var found: [LockLease] = []
        for subject in subjects.keys.sorted() {
            guard let key = SubjectToken.decode(subject.dropFirst(prefix.count)), let lease = try await lease(key: key) else { continue }
            found.append(lease)
        }
        return found
    }

    /// NATS being unreachable is `unavailable` (503), as for the other backends.
    private func calling<T: Sendable>(_ operation: @Sendable () async throws -> T) async throws -> T {
        do {
            return try await operation()
        } catch let error as NATSError where error.isTransient {
            throw SwitchboardError.unavailable("NATS is unavailable: \(error)")
        }
    }
}
