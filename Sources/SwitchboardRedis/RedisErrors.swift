import NIOCore
import SwitchboardCore
import SwitchboardRESP

/// Runs a Redis call and reports "Redis cannot serve this now" as `unavailable` (HTTP 503),
/// whatever form it took: no connection, a connection lost mid-command, a timeout, or a
/// server that is loading, read-only, out of memory or busy with a script.
func call<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as SwitchboardError {
        throw error
    } catch let error as RedisUnavailable {
        throw SwitchboardError.unavailable(error.description)
    } catch let error as RESPConnectionError {
        throw SwitchboardError.unavailable("the connection to Redis failed: \(error)")
    } catch let error as RedisError where transientCodes.contains(String(error.code)) {
        throw SwitchboardError.unavailable("Redis: \(error.message)")
    } catch let error as ChannelError {
        throw SwitchboardError.unavailable("the connection to Redis failed: \(error)")
    } catch let error as IOError {
        throw SwitchboardError.unavailable("the connection to Redis failed: \(error)")
    }
}

private let transientCodes: Set<String> = ["LOADING", "READONLY", "MASTERDOWN", "BUSY", "OOM", "TRYAGAIN", "CLUSTERDOWN"]
