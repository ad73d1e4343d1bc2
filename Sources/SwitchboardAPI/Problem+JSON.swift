import SwitchboardJSON

/// An error answer's body, RFC 9457 `application/problem+json`: `{"type", "title", "status", "detail"}`.
public struct ProblemDocument: Sendable, Hashable {
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String

    public init(type: String = "about:blank", title: String, status: Int, detail: String) {
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
    }

    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 128 + detail.utf8.count)
        w.beginObject()
        w.key("type"); w.string(type)
        w.key("title"); w.string(title)
        w.key("status"); w.int(status)
        w.key("detail"); w.string(detail)
        w.endObject()
        return w.bytes
    }

    /// A problem body, with `status` and `title` (the reason phrase) from the response where the
    /// body lacks them; nil when the body is not a JSON object.
    public init?(json bytes: [UInt8], status: Int, reason: String) {
        guard let object = try? JSONObjectReader(bytes) else { return nil }
        self.init(
            type: (try? object.string("type")) ?? "about:blank", title: (try? object.string("title")) ?? reason, status: status,
            detail: (try? object.string("detail")) ?? "")
    }
}
