import Foundation
import SwitchboardAPI
import SwitchboardCore
import SwitchboardJSON
import SwitchboardTesting
import Testing
import Yams

@Suite("Task JSON")
struct TaskJSONTests {
    static let sample = TaskRecord(
        id: "0193c1f0-0000-7000-8000-000000000001", queue: "default", type: "tool_call", runID: "run-123", priority: 5,
        metadata: ["user_id": "user-123", "b": "é\"x"],
        payload: json(#"{"tool_name": "read_file", "input": {"path": "/etc/hosts"}, "reason": "gathering info"}"#),
        status: .running, attempts: 1, maxRetries: 3, timeoutMS: 30000, lockKey: nil, notBefore: nil,
        createdAt: Timestamp(milliseconds: 1_795_000_000_000), updatedAt: Timestamp(milliseconds: 1_795_000_000_500),
        startedAt: Timestamp(milliseconds: 1_795_000_000_400), workerID: "worker-1",
        leaseExpiresAt: Timestamp(milliseconds: 1_795_000_035_400), result: json("[1, 2.50]"), error: "boom",
        errors: [TaskErrorEntry(attempt: 1, at: Timestamp(milliseconds: 1_795_000_000_300), message: "boom", workerID: "w0")])

    @Test("the fast writer produces the DESIGN.md shape, payload bytes verbatim")
    func shape() throws {
        let bytes = Self.sample.jsonBytes()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#""payload":{"tool_name": "read_file", "input": {"path": "/etc/hosts"}, "reason": "gathering info"}"#))
        #expect(text.contains(#""result":[1, 2.50]"#))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        // DESIGN.md §2's fields, and `releases` (an addition: issue 15's bounded releases).
        let expectedKeys: Set<String> = [
            "id", "queue", "type", "run_id", "priority", "metadata", "payload", "status", "attempts", "releases", "max_retries",
            "timeout_ms", "lock_key", "not_before", "created_at", "updated_at", "started_at", "finished_at",
            "worker_id", "lease_expires_at", "result", "error", "errors",
        ]
        #expect(Set(object.keys) == expectedKeys)
        #expect(object["created_at"] as? String == "2026-11-18T11:06:40.000Z")
        #expect(object["lock_key"] is NSNull)
        let errors = try #require(object["errors"] as? [[String: Any]])
        #expect(errors.first?["worker_id"] as? String == "w0")
    }

    @Test("a submission body is parsed with payload bytes kept")
    func submission() throws {
        let body = #"{"queue":"agents","type":"tool_call","run_id":"run-1","priority":7,"metadata":{"u":"1"},"payload":{ "tool_name" : "echo" },"max_retries":2,"timeout_ms":5000,"lock_key":"repo","not_before":"2026-11-27T10:00:00Z","id":"my-id"}"#
        let s = try TaskSubmission(json: Array(body.utf8))
        #expect(s.queue == "agents" && s.type == "tool_call" && s.runID == "run-1" && s.priority == 7)
        #expect(s.metadata == ["u": "1"] && s.maxRetries == 2 && s.timeoutMS == 5000 && s.lockKey == "repo")
        #expect(s.payload.description == #"{ "tool_name" : "echo" }"#)
        #expect(s.notBefore?.rfc3339 == "2026-11-27T10:00:00.000Z")
        #expect(s.id == "my-id")
    }

    @Test("submission bodies with the wrong shape say which field", arguments: [
        (#"{"payload": 1, "priority": "high"}"#, SwitchboardError.Kind.invalid, "priority"),
        (#"{"payload": 1, "priority": 1.5}"#, .invalid, "priority"),
        (#"{"payload": 1, "queue": 5}"#, .invalid, "queue"),
        (#"{"payload": 1, "metadata": {"a": 1}}"#, .invalid, "metadata.a"),
        (#"{"payload": 1, "metadata": [1]}"#, .invalid, "metadata"),
        (#"{"payload": 1, "not_before": "yesterday"}"#, .invalid, "not_before"),
        (#"{"payload": 1, "surprise": true}"#, .invalid, "surprise"),
        (#"{"type": "x"}"#, .invalid, "payload"),
        (#"{"payload": }"#, .malformed, "invalid JSON"),
        (#"[1, 2]"#, .malformed, "object"),
    ])
    func badSubmission(_ body: String, _ kind: SwitchboardError.Kind, _ field: String) {
        do {
            _ = try TaskSubmission(json: Array(body.utf8))
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.kind == kind)
            #expect(error.detail.contains(field), "\(error.detail)")
        }
    }
}

@Suite("Reading a task back from its JSON")
struct TaskRecordReadingTests {
    @Test("every field survives writing and reading; payload and result keep their bytes")
    func roundTrip() throws {
        let t = Timestamp(milliseconds: 1_800_000_000_123)
        let full = TaskRecord(
            id: "0193c1f0-aaaa", queue: "q", type: "tool_call", runID: "run-1", priority: 7, metadata: ["a": "b", "ü": "\"x\""],
            payload: try RawJSON(validating: #"{"tool_name": "echo",  "input": [1, 2.50]}"#), status: .dead, attempts: 2,
            maxRetries: 1, timeoutMS: 5000, lockKey: "repo", notBefore: t, createdAt: t, updatedAt: t + .milliseconds(5),
            startedAt: t + .milliseconds(1), finishedAt: t + .milliseconds(5), workerID: "w-1", leaseExpiresAt: nil,
            result: try RawJSON(validating: #"{"z": null}"#), error: "boom\nline two",
            errors: [TaskErrorEntry(attempt: 1, at: t, message: "first", workerID: nil), TaskErrorEntry(attempt: 2, at: t, message: "boom\nline two", workerID: "w-1", startedAt: Timestamp(milliseconds: 1_795_000_000_100))])
        let read = try TaskRecord(json: full.jsonBytes())
        #expect(read == full)
        #expect(read.payload.description == #"{"tool_name": "echo",  "input": [1, 2.50]}"#)
        let bare = TaskRecord(id: "x", queue: "q", type: "t", payload: .null, status: .pending, maxRetries: 0, timeoutMS: 1, createdAt: t, updatedAt: t)
        #expect(try TaskRecord(json: bare.jsonBytes()) == bare)
        #expect(throws: JSONError.self) { try TaskRecord(json: Array(#"{"id": "x"}"#.utf8)) }
    }
}

@Suite("Tasks through the pull reader")
struct TaskPullReaderTests {
    @Test("on mutated task documents it refuses whatever the validating scanner refuses, and never crashes")
    func fuzzAgainstScanner() {
        var rng = SeededRandom()
        print("task reader fuzz, \(rng)")
        let t = Timestamp(milliseconds: 1_800_000_000_123)
        let seed = TaskRecord(
            id: "0193c1f0-aaaa", queue: "q", type: "tool_call", runID: "run-1", metadata: ["a": "b\u{e9}"],
            payload: .emptyObject, status: .dead, attempts: 2, maxRetries: 1, timeoutMS: 5000, createdAt: t, updatedAt: t,
            result: RawJSON(unchecked: Array(#"[1, {"z": null}]"#.utf8)), error: "boom\n",
            errors: [TaskErrorEntry(attempt: 1, at: t, message: "first", workerID: "w")]
        ).jsonBytes()
        let alphabet = Array(#"{}[]":,\ ".0123456789eE+-tfnulrsa"#.utf8) + [0x00, 0xC3, 0xA9, 0xFF, 0x0A]
        for _ in 0..<4000 {
            let bytes = mutated(seed, from: alphabet, using: &rng)
            let read = try? TaskRecord(json: bytes)
            if (try? JSONScanner.validate(bytes)) == nil {
                #expect(read == nil, "read a document the scanner refuses: \(String(decoding: bytes, as: UTF8.self)); \(rng)")
            }
        }
        var random = [UInt8](repeating: 0, count: 64)
        for _ in 0..<2000 {
            for j in random.indices { random[j] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? TaskRecord(json: random)
        }
    }

    @Test("a task's fields in another order, with fields it does not know, read the same")
    func taskInAnyOrder() throws {
        let t = Timestamp(milliseconds: 1_800_000_000_000)
        let task = TaskRecord(
            id: "id-1", queue: "q", type: "tool_call", metadata: ["k": "v"], payload: .emptyObject, status: .running, attempts: 1,
            maxRetries: 3, timeoutMS: 10, createdAt: t, updatedAt: t, workerID: "w")
        let text = #"{"future": {"a": [1]}, "worker_id": "w", "updated_at": "2027-01-15T08:00:00.000Z", "status": "running", "attempts": 1, "# +
            #""payload": {}, "queue": "q", "type": "tool_call", "max_retries": 3, "timeout_ms": 10, "metadata": {"k": "v"}, "# +
            #""created_at": "2027-01-15T08:00:00.000Z", "errors": null, "id": "id-1"}"#
        #expect(try TaskRecord(json: Array(text.utf8)) == task)
    }
}

/// Bytes of `text` as a validated raw value.
func json(_ text: String) -> RawJSON {
    try! RawJSON(validating: text)
}

@Suite("The task's shape has one source")
struct TaskShapeTests {
    @Test("openapi.yaml's Task schema lists exactly TaskField's names, in order, all required, null where TaskField allows it")
    func openAPITaskSchema() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../openapi.yaml")
        let spec = try #require(try Yams.load(yaml: String(contentsOf: url, encoding: .utf8)) as? [String: Any])
        let schemas = try #require((spec["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let task = try #require(schemas["Task"] as? [String: Any])
        let text = try String(contentsOf: url, encoding: .utf8)
        // Yams gives a dictionary; the order of the properties is read from the text itself.
        let properties = try #require(task["properties"] as? [String: Any])
        let names = TaskField.allCases.map { "\($0.name)" }
        #expect(Set(properties.keys) == Set(names), "openapi.yaml and TaskField name the same fields")
        let block = try #require(text.range(of: "    Task:\n")).upperBound
        let positions = names.compactMap { name in text.range(of: "        \(name):", range: block..<text.endIndex)?.lowerBound }
        #expect(positions.count == names.count && positions == positions.sorted(), "in the order the server writes them")
        #expect(Set(task["required"] as? [String] ?? []) == Set(names), "every field is always present")
        for field in TaskField.allCases {
            // Fields whose schema names a type (payload and result take any JSON) say whether null is allowed.
            guard let type = (properties["\(field.name)"] as? [String: Any])?["type"] else { continue }
            let types = (type as? [String]) ?? [type as? String].compactMap { $0 }
            #expect(types.contains("null") == field.isNullable, "\(field.name): \(types)")
        }
        // And the writer writes exactly them.
        let sample = TaskRecord(
            id: "x", queue: "q", type: "t", payload: .null, status: .pending, maxRetries: 0, timeoutMS: 1,
            createdAt: Timestamp(milliseconds: 0), updatedAt: Timestamp(milliseconds: 0))
        let written = try #require(try JSONSerialization.jsonObject(with: Data(sample.jsonBytes())) as? [String: Any])
        #expect(Set(written.keys) == Set(names))
        let writtenText = String(decoding: sample.jsonBytes(), as: UTF8.self)
        let writtenOrder = names.compactMap { writtenText.range(of: "\"\($0)\":")?.lowerBound }
        #expect(writtenOrder.count == names.count && writtenOrder == writtenOrder.sorted(), "written in TaskField's order")
    }
}
