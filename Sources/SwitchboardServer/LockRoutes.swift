import HTTPTypes
import Hummingbird
import ServiceLifecycle
import SwitchboardAPI
import SwitchboardAuth
import SwitchboardCore
import SwitchboardJSON

/// `/v1/locks`: leases with fencing tokens.
struct LockRoutes<Context: SwitchboardContext> {
    let locks: any LockService
    let maxBodyBytes: Int

    func add(to router: Router<Context>, table: RouteTable) {
        table.on(router, .get, "/v1/locks", .allowing(.viewer, .operator, .worker), use: list)
        table.on(router, .get, "/v1/locks/:key", .allowing(.viewer, .operator, .worker), use: get)
        table.on(router, .post, "/v1/locks/:key/acquire", .allowing(.worker), use: acquire)
        table.on(router, .post, "/v1/locks/:key/renew", .allowing(.worker), use: renew)
        table.on(router, .post, "/v1/locks/:key/release", .allowing(.worker, .operator, audit: "lock.release", unless: [.worker]), use: release)
    }

    @Sendable func acquire(_ request: Request, context: Context) async throws -> Response {
        let key = try context.parameter("key")
        let body = try await request.jsonObject(limit: maxBodyBytes)
        try body.rejectUnknown(allowed: ["holder", "ttl_ms", "wait_ms"])
        let holder = try required(body.string("holder"), "holder")
        let ttl = try required(body.integer("ttl_ms"), "ttl_ms")
        let wait = try body.integer("wait_ms") ?? 0
        // A waiting acquire ends when its client goes away or the server starts shutting down;
        // a lock won in the instant the client went is released (`LockService.acquire(…, unless:)`).
        let presence = RequestPresence(channel: context.channel)
        let acquired = try await locks.acquire(
            key: key, holder: holder, ttl: .milliseconds(ttl), wait: .milliseconds(wait), unless: presence)
        if acquired == nil, presence.isShuttingDown {
            throw SwitchboardError.unavailable("the server is shutting down; lock \(key) was not acquired")
        }
        guard let lease = acquired else { throw SwitchboardError.conflict("lock \(key) is held by someone else") }
        return lease.response
    }

    @Sendable func renew(_ request: Request, context: Context) async throws -> Response {
        let key = try context.parameter("key")
        let body = try await request.jsonObject(limit: maxBodyBytes)
        try body.rejectUnknown(allowed: ["holder", "token", "ttl_ms"])
        let lease = try await locks.renew(
            key: key, holder: try required(body.string("holder"), "holder"), token: try token(body),
            ttl: .milliseconds(try required(body.integer("ttl_ms"), "ttl_ms")))
        return lease.response
    }

    @Sendable func release(_ request: Request, context: Context) async throws -> Response {
        let key = try context.parameter("key")
        let body = try await request.jsonObject(limit: maxBodyBytes)
        try body.rejectUnknown(allowed: ["holder", "token"])
        try await locks.release(key: key, holder: try required(body.string("holder"), "holder"), token: try token(body))
        return JSONResponse.noContent
    }

    @Sendable func get(_ request: Request, context: Context) async throws -> Response {
        let key = try context.parameter("key")
        guard let lease = try await locks.lease(key: key) else { throw SwitchboardError.notFound("lock \(key) is not held") }
        return lease.response
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        JSONResponse.items(try await locks.leases()) { w, lease in lease.write(to: &w) }
    }

    private func token(_ body: JSONObjectReader) throws -> UInt64 {
        let value = try required(body.integer("token"), "token")
        guard value > 0 else { throw SwitchboardError.invalid("token must be a positive whole number") }
        return UInt64(value)
    }
}

func required<T>(_ value: T?, _ field: String) throws(SwitchboardError) -> T {
    guard let value else { throw .invalid("\(field) is required") }
    return value
}

extension LockLease {
    var response: Response {
        var w = JSONWriter()
        write(to: &w)
        return JSONResponse.ok(w)
    }
}
