import SwitchboardCore
import SwitchboardJSON

extension LockLease {
    /// `{"key", "holder", "token", "expires_at"}` (DESIGN.md §3).
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("key"); w.string(key)
        w.key("holder"); w.string(holder)
        w.key("token"); w.int(token)
        w.key("expires_at"); w.timestamp(expiresAt)
        w.endObject()
    }

    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 128 + key.utf8.count + holder.utf8.count)
        write(to: &w)
        return w.bytes
    }

    public init(json bytes: [UInt8]) throws(JSONError) {
        var reader = JSONPullReader(bytes)
        try self.init(reading: &reader)
        try reader.end()
    }

    public init(reading reader: inout JSONPullReader) throws(JSONError) {
        var key, holder: String?
        var token: Int64?
        var expiresAt: Timestamp?
        try reader.beginObject()
        while let name = try reader.nextKey() {
            if reader.key(name, is: "key") {
                key = try reader.string()
            } else if reader.key(name, is: "holder") {
                holder = try reader.string()
            } else if reader.key(name, is: "token") {
                token = try reader.integer()
            } else if reader.key(name, is: "expires_at") {
                expiresAt = try reader.timestamp()
            } else {
                try reader.skipValue()
            }
        }
        guard let key, let holder, let token, token > 0, let expiresAt else { throw .shape("a lock lease without key, holder, token or expires_at") }
        self.init(key: key, holder: holder, token: UInt64(token), expiresAt: expiresAt)
    }
}
