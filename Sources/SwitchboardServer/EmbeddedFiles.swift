import Foundation
import Hummingbird
import NIOCore

/// Files held in memory (the page compiled into the binary) for Hummingbird's `FileMiddleware`,
/// which then does what it does for a folder: index.html for `/`, content types, ETag and
/// Last-Modified (the time the server started), ranges.
struct EmbeddedFiles: FileProvider {
    struct Attributes: FileMiddlewareFileAttributes {
        var isFolder: Bool
        var size: Int
        var modificationDate: Date
    }

    /// By path from the root, with its leading slash.
    private let files: [String: ByteBuffer]
    private let loaded = Date()

    /// `files`: by path under the root, without a leading slash.
    init(_ files: [String: [UInt8]]) {
        self.files = Dictionary(uniqueKeysWithValues: files.map { ("/\($0.key)", ByteBuffer(bytes: $0.value)) })
    }

    func getFileIdentifier(_ path: String) -> String? { path }

    func getAttributes(id path: String) async throws -> Attributes? {
        if path == "/" || path.isEmpty { return Attributes(isFolder: true, size: 0, modificationDate: loaded) }
        guard let file = files[path] else { return nil }
        return Attributes(isFolder: false, size: file.readableBytes, modificationDate: loaded)
    }

    func loadFile(id path: String, context: some RequestContext) async throws -> ResponseBody {
        ResponseBody(byteBuffer: files[path] ?? ByteBuffer())
    }

    func loadFile(id path: String, range: ClosedRange<Int>, context: some RequestContext) async throws -> ResponseBody {
        guard let file = files[path], range.lowerBound >= 0, range.upperBound < file.readableBytes else { return ResponseBody() }
        return ResponseBody(byteBuffer: file.getSlice(at: file.readerIndex + range.lowerBound, length: range.count) ?? ByteBuffer())
    }
}
