import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwitchboardAssets
import SwitchboardServer
import Testing

@Suite("The page and the contract built into the binary")
struct EmbeddedAssetsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("every file of Public/ and openapi.yaml is compiled in, byte for byte (a file added to Public/ must be listed in Package.swift and EmbeddedAssets)")
    func everyFileIsEmbedded() throws {
        let folder = Self.root.appendingPathComponent("Public")
        let names = try FileManager.default.subpathsOfDirectory(atPath: folder.path).filter { name in
            var isFolder: ObjCBool = false
            return FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path, isDirectory: &isFolder) && !isFolder.boolValue
        }
        #expect(Set(names) == Set(EmbeddedAssets.publicFiles.keys))
        for name in names {
            let bytes = try [UInt8](Data(contentsOf: folder.appendingPathComponent(name)))
            #expect(EmbeddedAssets.publicFiles[name] == bytes, "\(name) as compiled is the file")
        }
        #expect(EmbeddedAssets.openAPI == (try [UInt8](Data(contentsOf: Self.root.appendingPathComponent("openapi.yaml")))))
    }

    @Test("by default the server serves the compiled page (with its content type and ETag) and contract, wherever it runs")
    func servedByDefault() async throws {
        try await ServerHarness().test { client in
            let page = try await client.execute(uri: "/", method: .get) { $0 }
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(page.headers[.eTag] != nil)
            #expect(String(buffer: page.body) == String(decoding: EmbeddedAssets.publicFiles["index.html"]!, as: UTF8.self))
            let same = try await client.execute(uri: "/index.html", method: .get) { $0 }
            #expect(same.status == .ok && same.body == page.body)
            let contract = try await client.execute(uri: "/openapi.yaml", method: .get) { $0 }
            #expect(contract.status == .ok && contract.headers[.contentType] == "application/yaml")
            #expect(Array(contract.body.readableBytesView) == EmbeddedAssets.openAPI)
            let missing = try await client.execute(uri: "/nothing.js", method: .get) { $0 }
            #expect(missing.status == .notFound)
        }
    }

    @Test("--public-dir and --openapi serve a folder and a file instead")
    func overrides() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sb-page-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "<title>working copy</title>".write(to: folder.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        let contract = folder.appendingPathComponent("contract.yaml")
        try "openapi: 3.1.0 # working copy".write(to: contract, atomically: true, encoding: .utf8)
        try await ServerHarness(settings: { settings in
            settings.publicDirectory = folder.path
            settings.openAPIPath = contract.path
        }).test { client in
            let page = try await client.execute(uri: "/", method: .get) { String(buffer: $0.body) }
            #expect(page == "<title>working copy</title>")
            let served = try await client.execute(uri: "/openapi.yaml", method: .get) { String(buffer: $0.body) }
            #expect(served == "openapi: 3.1.0 # working copy")
        }
    }
}
