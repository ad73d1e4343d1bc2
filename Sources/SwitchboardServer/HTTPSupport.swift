import HTTPTypes
import Hummingbird
import SwitchboardAPI
import SwitchboardCore
import SwitchboardJSON

extension Request {
    /// The body as bytes, refusing more than `limit` with 413: a declared length over the limit
    /// is refused before anything is read, and a streamed body stops at the limit.
    func bodyBytes(limit: Int) async throws -> [UInt8] {
        if let declared = headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw SwitchboardError.tooLarge("the request body is \(declared) bytes; the limit is \(limit)")
        }
        do {
            var buffer = try await body.collect(upTo: limit)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw SwitchboardError.tooLarge("the request body is larger than the limit of \(limit) bytes")
        }
    }

    /// The body, which must be one JSON object.
    func jsonObject(limit: Int) async throws -> JSONObjectReader {
        let bytes = try await bodyBytes(limit: limit)
        return try readingWire { () throws(JSONError) in try JSONObjectReader(bytes) }
    }

    /// The body as a JSON object, an empty body reading as `{}` (for calls whose fields are all optional).
    func optionalJSONObject(limit: Int) async throws -> JSONObjectReader {
        let bytes = try await bodyBytes(limit: limit)
        let object = bytes.allSatisfy { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 } ? Array("{}".utf8) : bytes
        return try readingWire { () throws(JSONError) in try JSONObjectReader(object) }
    }

    func query(_ name: String) -> String? {
        uri.queryParameters.get(name)
    }

    /// A query parameter that names something (queue, type, …): present means non-empty.
    func nameQuery(_ name: String) throws(SwitchboardError) -> String? {
        guard let value = uri.queryParameters.get(name) else { return nil }
        guard !value.isEmpty else { throw .invalid("query parameter \(name) must not be empty") }
        return value
    }

    func intQuery(_ name: String) throws(SwitchboardError) -> Int? {
        guard let text = uri.queryParameters.get(name) else { return nil }
        guard let value = Int(text) else { throw .invalid("query parameter \(name) must be a whole number") }
        return value
    }

    /// `limit` and `cursor`; the engine checks their ranges.
    func pageRequest() throws(SwitchboardError) -> PageRequest {
        PageRequest(limit: try intQuery("limit") ?? 100, cursor: query("cursor"))
    }
}

extension RequestContext {
    /// A path parameter, percent-decoded (`a%3Ab` is `a:b`).
    func parameter(_ name: String) throws -> String {
        guard let raw = parameters.get(name) else { throw SwitchboardError.malformed("missing path parameter \(name)") }
        guard let value = percentDecoded(raw) else { throw SwitchboardError.malformed("path parameter \(name) is not valid percent-encoded UTF-8") }
        return value
    }
}

func percentDecoded(_ text: String) -> String? {
    guard text.utf8.contains(UInt8(ascii: "%")) else { return text }
    var bytes: [UInt8] = []
    var iterator = text.utf8.makeIterator()
    while let byte = iterator.next() {
        guard byte == UInt8(ascii: "%") else {
            bytes.append(byte)
            continue
        }
        guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
        bytes.append(high << 4 | low)
    }
    return String(validating: bytes, as: UTF8.self)
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 48...57: c - 48
    case 65...70: c - 55
    case 97...102: c - 87
    default: nil
    }
}

/// Builds JSON responses from bytes the writers made; never through a generic encoder.
enum JSONResponse {
    static func ok(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        ok(ByteBuffer(bytes: bytes), status: status, headers: headers)
    }

    /// What `w` wrote, copied once, straight into the response's buffer.
    static func ok(_ w: borrowing JSONWriter, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        ok(w.withBytes { ByteBuffer(bytes: $0) }, status: status, headers: headers)
    }

    private static func ok(_ buffer: ByteBuffer, status: HTTPResponse.Status, headers: HTTPFields) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: buffer))
    }

    static func object(status: HTTPResponse.Status = .ok, capacity: Int = 256, _ write: (inout JSONWriter) -> Void) -> Response {
        var w = JSONWriter(capacity: capacity)
        w.beginObject()
        write(&w)
        w.endObject()
        return ok(w, status: status)
    }

    static func task(_ task: TaskRecord, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        ok(task.jsonBytes(), status: status, headers: headers)
    }

    /// `{"items": [...]}`, each element written by `write`.
    static func items<Element>(_ elements: some Sequence<Element>, _ write: (inout JSONWriter, Element) -> Void) -> Response {
        var w = JSONWriter(capacity: 256)
        ItemsPage.write(elements, to: &w, write)
        return ok(w)
    }

    /// `{"items": [...]}`, plus `"next_cursor"` for a page of a list.
    static func tasks(_ tasks: [TaskRecord], page nextCursor: String?? = .none, status: HTTPResponse.Status = .ok) -> Response {
        var w = JSONWriter(capacity: 64 + tasks.count * 700)
        ItemsPage.write(tasks, nextCursor: nextCursor, to: &w) { w, task in task.write(to: &w) }
        return ok(w, status: status)
    }

    static func queue(_ info: QueueInfo) -> Response {
        var w = JSONWriter()
        info.write(to: &w)
        return ok(w)
    }

    static var noContent: Response { Response(status: .noContent) }
}
